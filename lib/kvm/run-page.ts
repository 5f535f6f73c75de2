// RunPage: typed, copy-free access to a vCPU's mmap'd struct kvm_run.
import { native } from '../native/binding';

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

export class RunPage {
  readonly buffer: ArrayBuffer;
  readonly bytes: Uint8Array;
  readonly view: DataView;

  constructor(buffer: ArrayBuffer) {
    this.buffer = buffer;
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
  }

  get exitReason(): number {
    return this.view.getUint32(RUN_LAYOUT.exit_reason, true);
  }

  get immediateExit(): boolean {
    return this.bytes[RUN_LAYOUT.immediate_exit] !== 0;
  }

  set immediateExit(value: boolean) {
    this.bytes[RUN_LAYOUT.immediate_exit] = value ? 1 : 0;
  }

  u8(offset: number): number {
    return this.view.getUint8(offset);
  }
  u16(offset: number): number {
    return this.view.getUint16(offset, true);
  }
  u32(offset: number): number {
    return this.view.getUint32(offset, true);
  }
  u64(offset: number): bigint {
    return this.view.getBigUint64(offset, true);
  }
}
