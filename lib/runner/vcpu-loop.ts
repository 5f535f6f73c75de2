// The vCPU run loop: enter the guest, handle register-level exits (port I/O, MMIO) on this thread by
// dispatching to the buses, honour pause/stop requests, and end with a typed reason for anything else.
import { VcpuError, VmmError } from '../kvm/errors';
import type { IoBus } from '../bus/io-bus';
import { KvmExit } from '../kvm/constants';
import { decodeExit, ExitFields, exitName, MMIO_DATA_OFFSET, VcpuExit } from '../kvm/exits';
import type { Vcpu } from '../kvm/vcpu';
import type { VcpuState } from '../arch/x86_64/vcpu-state';
import { ControlBlock, Request, State } from './control';
import { DeviceExit, serializeError, UnhandledIoPolicy, VcpuEnd, VcpuEndReason, WorkerMessage } from './messages';

/** Unhandled accesses reported to the main thread per vCPU before going quiet. */
const UNHANDLED_REPORT_LIMIT = 16;
const EXIT_COUNT_SLOTS = 64;
/** After the exit reasons: port reads and writes, MMIO reads and writes (Firecracker's exit_io_in, ...). */
export const IO_IN_SLOT = EXIT_COUNT_SLOTS;
export const IO_OUT_SLOT = EXIT_COUNT_SLOTS + 1;
export const MMIO_READ_SLOT = EXIT_COUNT_SLOTS + 2;
export const MMIO_WRITE_SLOT = EXIT_COUNT_SLOTS + 3;
/** Nanoseconds inside KVM_RUN and the time of the current entry (0 outside): kept by the addon (Vcpu.setRunClock). */
export const RUN_NS_SLOT = EXIT_COUNT_SLOTS + 4;
export const RUN_ENTERED_SLOT = EXIT_COUNT_SLOTS + 5;
/** Nanoseconds the loop ran (not parked), and the start of the current stretch (0 while parked or ended). */
export const ACTIVE_NS_SLOT = EXIT_COUNT_SLOTS + 6;
export const ACTIVE_SINCE_SLOT = EXIT_COUNT_SLOTS + 7;
/** Then accesses routed to each device, in the machine's device order (devices past the last slot share it). */
export const DEVICE_SLOT_BASE = EXIT_COUNT_SLOTS + 8;
export const DEVICE_COUNTER_SLOTS = 32;
/** Float64 counters per vCPU: one per exit reason (KVM's reasons are small integers), the four above, the devices'. */
export const VCPU_COUNTER_SLOTS = DEVICE_SLOT_BASE + DEVICE_COUNTER_SLOTS;

/** process.hrtime's clock (CLOCK_MONOTONIC, the one the addon's run clock reads) in nanoseconds. */
export function monotonicNs(): number {
  return Number(process.hrtime.bigint());
}

const END_REASONS: Partial<Record<VcpuExit['kind'], VcpuEndReason>> = {
  hlt: 'hlt',
  shutdown: 'shutdown',
  'system-event': 'system-event',
  'internal-error': 'internal-error',
  'fail-entry': 'fail-entry',
  unknown: 'unknown-exit',
};

class UnhandledIoError extends VmmError {}

/** Filled by a device (through DeviceContext.requestExit) to end the loop after the current exit. */
export interface PendingDeviceExit {
  exit?: DeviceExit;
}

export interface VcpuLoopOptions {
  vcpu: Vcpu;
  buses: { pio: IoBus; mmio: IoBus };
  control: ControlBlock;
  index: number;
  unhandledIo: UnhandledIoPolicy;
  post: (message: WorkerMessage) => void;
  pendingExit: PendingDeviceExit;
  /**
   * Offered every exit that would end the vCPU; returning a name means it was dealt with (counted
   * under that name in VcpuEnd.recovered) and the guest runs on, e.g. an int3 that KVM's emulator
   * could not run (arch/x86_64/emulator-completion.ts); undefined lets the exit end the vCPU.
   */
  recover?: (exit: VcpuExit) => string | undefined;
  /** Reads the vCPU's whole state (asked for while it is paused: Request.SAVE). */
  saveState?: () => VcpuState;
  /** Where to count exits (VCPU_COUNTER_SLOTS float64s, e.g. over a SharedArrayBuffer the main thread reads); default private. */
  counters?: Float64Array;
}

export class VcpuLoop {
  readonly #vcpu: Vcpu;
  readonly #pio: IoBus;
  readonly #mmio: IoBus;
  readonly #control: ControlBlock;
  readonly #index: number;
  readonly #policy: UnhandledIoPolicy;
  readonly #post: (message: WorkerMessage) => void;
  readonly #bytes: Uint8Array;
  readonly #fields: ExitFields;
  readonly #dataViews = new Map<number, Uint8Array>();
  /** Exits seen, by exit reason (larger reasons share the last slot), then by direction (VCPU_COUNTER_SLOTS). */
  readonly #exitCounts: Float64Array;
  readonly #pendingExit: PendingDeviceExit;
  readonly #recover: ((exit: VcpuExit) => string | undefined) | undefined;
  readonly #recovered: Record<string, number> = {};
  readonly #saveState: (() => VcpuState) | undefined;
  #unhandledReports = 0;

  constructor(options: VcpuLoopOptions) {
    this.#vcpu = options.vcpu;
    this.#pio = options.buses.pio;
    this.#mmio = options.buses.mmio;
    this.#control = options.control;
    this.#index = options.index;
    this.#policy = options.unhandledIo;
    this.#post = options.post;
    this.#pendingExit = options.pendingExit;
    this.#recover = options.recover;
    this.#saveState = options.saveState;
    this.#exitCounts = options.counters ?? new Float64Array(VCPU_COUNTER_SLOTS);
    this.#bytes = this.#vcpu.runPage.bytes;
    this.#fields = new ExitFields(this.#vcpu.runPage);
  }

  /** Runs until the vCPU ends; never throws (failures become an 'error' end). */
  run(): VcpuEnd {
    const control = this.#control;
    const index = this.#index;
    let exit: VcpuExit | undefined;
    let reason: VcpuEndReason;
    let error: unknown;
    try {
      control.setState(index, State.RUNNING);
      this.#activeFrom();
      for (;;) {
        const request = control.request(index);
        if (request !== Request.RUN) {
          if (request === Request.STOP) {
            reason = 'stopped';
            break;
          }
          this.#pause();
          continue;
        }
        const code = this.#vcpu.run();
        this.#exitCounts[code < EXIT_COUNT_SLOTS ? code : EXIT_COUNT_SLOTS - 1]++;
        if (code === KvmExit.IO || code === KvmExit.MMIO) {
          if (code === KvmExit.IO) this.#handleIo();
          else this.#handleMmio();
          if (this.#pendingExit.exit !== undefined) {
            reason = 'device-exit';
            break;
          }
        } else if (code !== KvmExit.INTR && code !== KvmExit.IRQ_WINDOW_OPEN) {
          const ending = decodeExit(code, this.#vcpu.runPage);
          const recovered = this.#recover?.(ending);
          if (recovered !== undefined) {
            this.#recovered[recovered] = (this.#recovered[recovered] ?? 0) + 1;
            continue;
          }
          exit = ending;
          reason = END_REASONS[exit.kind] ?? 'unexpected-exit';
          break;
        }
      }
    } catch (caught) {
      error = caught;
      reason = caught instanceof UnhandledIoError ? 'unhandled-io' : 'error';
    }
    return this.#end(reason, exit, error);
  }

  /** Parks the thread (no CPU use) until the VMM asks to run or stop again; reports its state on SAVE. */
  #pause(): void {
    this.#activeUntil();
    this.#control.setState(this.#index, State.PAUSED);
    for (;;) {
      const request = this.#control.request(this.#index);
      if (request === Request.RUN || request === Request.STOP) break;
      if (request === Request.SAVE) {
        this.#save();
        continue;
      }
      this.#control.waitWhileRequest(this.#index, request);
    }
    this.#control.setState(this.#index, State.RUNNING);
    this.#activeFrom();
  }

  /** Opens a stretch of running time (the main thread adds the open stretch when it reads). */
  #activeFrom(): void {
    this.#exitCounts[ACTIVE_SINCE_SLOT] = monotonicNs();
  }

  /** Closes the open stretch of running time, if any. */
  #activeUntil(): void {
    const since = this.#exitCounts[ACTIVE_SINCE_SLOT] as number;
    if (since === 0) return;
    this.#exitCounts[ACTIVE_NS_SLOT] = (this.#exitCounts[ACTIVE_NS_SLOT] as number) + monotonicNs() - since;
    this.#exitCounts[ACTIVE_SINCE_SLOT] = 0;
  }

  /**
   * An I/O exit handled here is only finished by KVM on the next KVM_RUN (an IN's value goes to RAX,
   * RIP moves past it). A KVM_RUN with immediate_exit set finishes it and returns at once; then the
   * registers are the guest's as it would go on. Failures are reported, not thrown: the VM stays paused.
   */
  #save(): void {
    try {
      if (this.#saveState === undefined) throw new VcpuError(this.#index, 'this vCPU cannot save its state');
      this.#vcpu.runPage.immediateExit = true;
      const code = this.#vcpu.run();
      this.#vcpu.runPage.immediateExit = false;
      if (code !== KvmExit.INTR) throw new VcpuError(this.#index, `finishing pending I/O before a save ended with exit ${exitName(code)}`);
      this.#post({ type: 'state', vcpu: this.#index, state: this.#saveState() });
    } catch (error) {
      this.#post({ type: 'state', vcpu: this.#index, error: serializeError(error) });
    }
    this.#control.replaceRequest(this.#index, Request.SAVE, Request.PAUSE);
  }

  #data(offset: number, size: number): Uint8Array {
    const key = offset * 16 + size;
    let data = this.#dataViews.get(key);
    if (data === undefined) {
      data = this.#bytes.subarray(offset, offset + size);
      this.#dataViews.set(key, data);
    }
    return data;
  }

  #handleIo(): void {
    const fields = this.#fields;
    const out = fields.ioOut;
    const size = fields.ioSize;
    const port = fields.ioPort;
    const count = fields.ioCount;
    const dataOffset = fields.ioDataOffset;
    this.#exitCounts[out ? IO_OUT_SLOT : IO_IN_SLOT]++;
    for (let i = 0; i < count; i++) {
      const data = this.#data(dataOffset + i * size, size);
      const handled = out ? this.#pio.write(port, data) : this.#pio.read(port, data);
      if (!handled) this.#unhandled('pio', port, size, out);
    }
  }

  #handleMmio(): void {
    const fields = this.#fields;
    const address = fields.mmioAddress;
    const length = fields.mmioLength;
    const write = fields.mmioIsWrite;
    const data = this.#data(MMIO_DATA_OFFSET, Math.min(length, 8));
    this.#exitCounts[write ? MMIO_WRITE_SLOT : MMIO_READ_SLOT]++;
    const handled = write ? this.#mmio.write(address, data) : this.#mmio.read(address, data);
    if (!handled) this.#unhandled('mmio', address, length, write);
  }

  #unhandled(bus: 'pio' | 'mmio', address: number, size: number, write: boolean): void {
    if (this.#policy === 'error') {
      throw new UnhandledIoError(`unhandled ${bus} ${write ? 'write' : 'read'} of ${size} bytes at 0x${address.toString(16)}`);
    }
    if (this.#unhandledReports < UNHANDLED_REPORT_LIMIT) {
      this.#unhandledReports++;
      this.#post({ type: 'unhandled-io', vcpu: this.#index, bus, address, size, write });
    }
  }

  #end(reason: VcpuEndReason, exit: VcpuExit | undefined, error: unknown): VcpuEnd {
    this.#activeUntil();
    const exitCounts: Record<string, number> = {};
    this.#exitCounts.subarray(0, EXIT_COUNT_SLOTS).forEach((count, code) => {
      if (count > 0) exitCounts[exitName(code)] = count;
    });
    const end: VcpuEnd = { vcpu: this.#index, reason, exitCounts, recovered: { ...this.#recovered } };
    if (exit !== undefined) end.exit = exit;
    if (error !== undefined) end.error = serializeError(error);
    if (reason === 'device-exit' && this.#pendingExit.exit !== undefined) end.deviceExit = this.#pendingExit.exit;
    try {
      end.regs = this.#vcpu.getRegs();
      end.sregs = this.#vcpu.getSregs();
    } catch {
      // Registers are a diagnostic extra; a vCPU that cannot report them still ends cleanly.
    }
    return end;
  }
}
