// Decoding of kvm_run after KVM_RUN returns into a typed union. Exits the VMM does not model are
// reported as 'other' with their number and name, never dropped.
import { KvmExit, KvmInternalError, KvmSystemEvent, KVM_EXIT_IO_OUT } from './constants';
import { RunPage, RUN_LAYOUT } from './run-page';

const MAX_EXIT_DATA_WORDS = 16;

/** A port I/O exit: the direction, port, width and count, and the data in the run page. */
export interface IoExit {
  /** Always `io`. */
  kind: 'io';
  /** `in` reads the port, `out` writes it. */
  direction: 'in' | 'out';
  /** The port. */
  port: number;
  /** Access width in bytes (1, 2 or 4). */
  size: number;
  /** Repetitions (string I/O); data holds size × count bytes. */
  count: number;
  /** Offset of the data inside the kvm_run mapping. */
  dataOffset: number;
}

/** An MMIO exit: the address, length, direction, and the data in the run page. */
export interface MmioExit {
  /** Always `mmio`. */
  kind: 'mmio';
  /** The guest-physical address. */
  address: bigint;
  /** The access's width in bytes. */
  length: number;
  /** Whether the guest wrote (else it reads). */
  isWrite: boolean;
  /** Offset of the (up to 8) data bytes inside the kvm_run mapping. */
  dataOffset: number;
}

/** What a KVM_EXIT_SYSTEM_EVENT reports. */
export type SystemEventType = 'shutdown' | 'reset' | 'crash' | 'wakeup' | 'suspend' | 'sev-term' | 'unknown';

/** A decoded vCPU exit: port I/O, MMIO, halt, shutdown, a system event, an internal error... */
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

/** The `kind` of a {@link VcpuExit}. */
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

/**
 * The KVM_EXIT_* name of an exit reason.
 * @throws Nothing.
 */
export function exitName(reason: number): string {
  return EXIT_NAMES.get(reason) ?? `EXIT_${reason}`;
}

function words(page: RunPage, countOffset: number, dataOffset: number): bigint[] {
  const count = Math.min(page.u32(countOffset), MAX_EXIT_DATA_WORDS);
  return Array.from({ length: count }, (_, i) => page.u64(dataOffset + i * 8));
}

/**
 * The register-level exits' fields, read in place from the run page: the vCPU loop reads them on every
 * exit without allocating, and decodeExit builds its objects from the same readers.
 */
export class ExitFields {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;

  constructor(page: RunPage) {
    this.#bytes = page.bytes;
    this.#view = page.view;
  }

  get ioOut(): boolean {
    return this.#bytes[RUN_LAYOUT['io.direction']] === KVM_EXIT_IO_OUT;
  }
  get ioSize(): number {
    return this.#bytes[RUN_LAYOUT['io.size']] as number;
  }
  get ioPort(): number {
    return this.#view.getUint16(RUN_LAYOUT['io.port'], true);
  }
  get ioCount(): number {
    return this.#view.getUint32(RUN_LAYOUT['io.count'], true);
  }
  /** data_offset is a u64 but always inside the kvm_run mapping: its low word is enough. */
  get ioDataOffset(): number {
    return this.#view.getUint32(RUN_LAYOUT['io.data_offset'], true);
  }
  get mmioAddress(): number {
    return Number(this.#view.getBigUint64(RUN_LAYOUT['mmio.phys_addr'], true));
  }
  get mmioLength(): number {
    return this.#view.getUint32(RUN_LAYOUT['mmio.len'], true);
  }
  get mmioIsWrite(): boolean {
    return this.#bytes[RUN_LAYOUT['mmio.is_write']] !== 0;
  }
}

export const MMIO_DATA_OFFSET = RUN_LAYOUT['mmio.data'];

/**
 * Decodes the run page after KVM_RUN returned `reason` into a typed exit.
 * @throws Nothing: an exit it does not know is decoded as `unknown`.
 */
export function decodeExit(reason: number, page: RunPage): VcpuExit {
  const fields = new ExitFields(page);
  switch (reason) {
    case KvmExit.IO:
      return { kind: 'io', direction: fields.ioOut ? 'out' : 'in', size: fields.ioSize, port: fields.ioPort, count: fields.ioCount, dataOffset: fields.ioDataOffset };
    case KvmExit.MMIO:
      return { kind: 'mmio', address: BigInt(fields.mmioAddress), length: fields.mmioLength, isWrite: fields.mmioIsWrite, dataOffset: MMIO_DATA_OFFSET };
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
