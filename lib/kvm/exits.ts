// Decoding of kvm_run after KVM_RUN returns into a typed union. Exits the VMM does not model are
// reported as 'other' with their number and name, never dropped.
import { KvmExit, KvmInternalError, KvmSystemEvent, KVM_EXIT_IO_OUT } from './constants';
import { RunPage, RUN_LAYOUT } from './run-page';

const MAX_EXIT_DATA_WORDS = 16;

export interface IoExit {
  kind: 'io';
  direction: 'in' | 'out';
  port: number;
  /** Access width in bytes (1, 2 or 4). */
  size: number;
  /** Repetitions (string I/O); data holds size × count bytes. */
  count: number;
  /** Offset of the data inside the kvm_run mapping. */
  dataOffset: number;
}

export interface MmioExit {
  kind: 'mmio';
  address: bigint;
  length: number;
  isWrite: boolean;
  /** Offset of the (up to 8) data bytes inside the kvm_run mapping. */
  dataOffset: number;
}

export type SystemEventType = 'shutdown' | 'reset' | 'crash' | 'wakeup' | 'suspend' | 'sev-term' | 'unknown';

export type VcpuExit =
  | IoExit
  | MmioExit
  | { kind: 'hlt' }
  | { kind: 'shutdown' }
  | { kind: 'interrupted' }
  | { kind: 'irq-window-open' }
  | { kind: 'debug' }
  | { kind: 'exception'; exception: number; errorCode: number }
  | { kind: 'system-event'; type: SystemEventType; typeCode: number; data: bigint[] }
  | { kind: 'internal-error'; suberror: number; suberrorName: string; data: bigint[] }
  | { kind: 'fail-entry'; hardwareEntryFailureReason: bigint; cpu: number }
  | { kind: 'unknown'; hardwareExitReason: bigint }
  | { kind: 'other'; reason: number; name: string };

export type VcpuExitKind = VcpuExit['kind'];

const EXIT_NAMES = new Map<number, string>(Object.entries(KvmExit).map(([name, value]) => [value, name]));
const SYSTEM_EVENT_TYPES = new Map<number, SystemEventType>([
  [KvmSystemEvent.SHUTDOWN, 'shutdown'],
  [KvmSystemEvent.RESET, 'reset'],
  [KvmSystemEvent.CRASH, 'crash'],
  [KvmSystemEvent.WAKEUP, 'wakeup'],
  [KvmSystemEvent.SUSPEND, 'suspend'],
  [KvmSystemEvent.SEV_TERM, 'sev-term'],
]);
const INTERNAL_ERROR_NAMES = new Map<number, string>(Object.entries(KvmInternalError).map(([name, value]) => [value, name]));

export function exitName(reason: number): string {
  return EXIT_NAMES.get(reason) ?? `EXIT_${reason}`;
}

function words(page: RunPage, countOffset: number, dataOffset: number): bigint[] {
  const count = Math.min(page.u32(countOffset), MAX_EXIT_DATA_WORDS);
  return Array.from({ length: count }, (_, i) => page.u64(dataOffset + i * 8));
}

export function decodeExit(reason: number, page: RunPage): VcpuExit {
  switch (reason) {
    case KvmExit.IO:
      return {
        kind: 'io',
        direction: page.u8(RUN_LAYOUT['io.direction']) === KVM_EXIT_IO_OUT ? 'out' : 'in',
        size: page.u8(RUN_LAYOUT['io.size']),
        port: page.u16(RUN_LAYOUT['io.port']),
        count: page.u32(RUN_LAYOUT['io.count']),
        dataOffset: Number(page.u64(RUN_LAYOUT['io.data_offset'])),
      };
    case KvmExit.MMIO:
      return {
        kind: 'mmio',
        address: page.u64(RUN_LAYOUT['mmio.phys_addr']),
        length: page.u32(RUN_LAYOUT['mmio.len']),
        isWrite: page.u8(RUN_LAYOUT['mmio.is_write']) !== 0,
        dataOffset: RUN_LAYOUT['mmio.data'],
      };
    case KvmExit.HLT:
      return { kind: 'hlt' };
    case KvmExit.SHUTDOWN:
      return { kind: 'shutdown' };
    case KvmExit.INTR:
      return { kind: 'interrupted' };
    case KvmExit.IRQ_WINDOW_OPEN:
      return { kind: 'irq-window-open' };
    case KvmExit.DEBUG:
      return { kind: 'debug' };
    case KvmExit.EXCEPTION:
      return { kind: 'exception', exception: page.u32(RUN_LAYOUT['ex.exception']), errorCode: page.u32(RUN_LAYOUT['ex.error_code']) };
    case KvmExit.SYSTEM_EVENT: {
      const typeCode = page.u32(RUN_LAYOUT['system_event.type']);
      return {
        kind: 'system-event',
        type: SYSTEM_EVENT_TYPES.get(typeCode) ?? 'unknown',
        typeCode,
        data: words(page, RUN_LAYOUT['system_event.ndata'], RUN_LAYOUT['system_event.data']),
      };
    }
    case KvmExit.INTERNAL_ERROR: {
      const suberror = page.u32(RUN_LAYOUT['internal.suberror']);
      return {
        kind: 'internal-error',
        suberror,
        suberrorName: INTERNAL_ERROR_NAMES.get(suberror) ?? `SUBERROR_${suberror}`,
        data: words(page, RUN_LAYOUT['internal.ndata'], RUN_LAYOUT['internal.data']),
      };
    }
    case KvmExit.FAIL_ENTRY:
      return {
        kind: 'fail-entry',
        hardwareEntryFailureReason: page.u64(RUN_LAYOUT['fail_entry.hardware_entry_failure_reason']),
        cpu: page.u32(RUN_LAYOUT['fail_entry.cpu']),
      };
    case KvmExit.UNKNOWN:
      return { kind: 'unknown', hardwareExitReason: page.u64(RUN_LAYOUT['hw.hardware_exit_reason']) };
    default:
      return { kind: 'other', reason, name: exitName(reason) };
  }
}
