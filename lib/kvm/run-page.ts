// RunPage: typed, copy-free access to a vCPU's mmap'd struct kvm_run.
import { native } from '../native/binding';
import { StructView } from './structs/cursor';

/** Byte offsets inside struct kvm_run (x86-64 ABI); verified against the addon's offsetof table. */
export const RUN_LAYOUT = {
  immediate_exit: 1,
  exit_reason: 8,
  if_flag: 13,
  cr8: 16,
  apic_base: 24,
  'io.direction': 32,
  'io.size': 33,
  'io.port': 34,
  'io.count': 36,
  'io.data_offset': 40,
  'mmio.phys_addr': 32,
  'mmio.data': 40,
  'mmio.len': 48,
  'mmio.is_write': 52,
  'internal.suberror': 32,
  'internal.ndata': 36,
  'internal.data': 40,
  'fail_entry.hardware_entry_failure_reason': 32,
  'fail_entry.cpu': 40,
  'system_event.type': 32,
  'system_event.ndata': 36,
  'system_event.data': 40,
  'ex.exception': 32,
  'ex.error_code': 36,
  'hw.hardware_exit_reason': 32,
} as const;

/** Returns the names of fields whose offsets differ from the addon's compiled-in struct kvm_run. */
export function runLayoutMismatches(): string[] {
  const compiled = native().constants.runLayout;
  return Object.entries(RUN_LAYOUT)
    .filter(([name, offset]) => compiled[name] !== offset)
    .map(([name]) => name);
}

/** The kvm_run mapping, read and written in place (little-endian field access from StructView). */
export class RunPage extends StructView {
  readonly buffer: ArrayBuffer;

  constructor(buffer: ArrayBuffer) {
    super(new Uint8Array(buffer));
    this.buffer = buffer;
  }

  get exitReason(): number {
    return this.u32(RUN_LAYOUT.exit_reason);
  }

  get immediateExit(): boolean {
    return this.bytes[RUN_LAYOUT.immediate_exit] !== 0;
  }

  set immediateExit(value: boolean) {
    this.bytes[RUN_LAYOUT.immediate_exit] = value ? 1 : 0;
  }
}
