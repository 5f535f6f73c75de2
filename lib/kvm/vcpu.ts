// Vcpu: one virtual CPU. Lives on the thread that created it; run() enters the guest synchronously.
import { native, NativeVcpuHandle } from '../native/binding';
import { KvmExit } from './constants';
import { ArgumentError, ClosedError, isNativeErrnoError, KvmIoctlError, nativeCall, toVmmError } from './errors';
import { structIoctl, structSize } from './ioctl';
import { RunPage } from './run-page';
import { CpuidEntry, decodeCpuid, emptyCpuid, encodeCpuid, MAX_CPUID_ENTRIES } from './structs/cpuid';
import { StructView } from './structs/cursor';
import { decodeFpu, encodeFpu, Fpu, FPU_SIZE } from './structs/fpu';
import { decodeMsrs, encodeMsrs, MsrEntry } from './structs/msrs';
import { decodeRegs, encodeRegs, Regs, REGS_SIZE } from './structs/regs';
import { decodeSregs, encodeSregs, Sregs, SREGS_SIZE } from './structs/sregs';
import { decodeTranslation, encodeTranslationRequest, Translation } from './structs/translation';
import { decodeVcpuEvents, encodeVcpuEvents, VcpuEvents, VCPU_EVENTS_SIZE } from './structs/vcpu-events';
import { decodeXcrs, encodeXcrs, Xcr, XCRS_SIZE } from './structs/xcrs';

/** What KVM_SET_MSRS means when it stops early: an MSR (or value) it does not take. */
const EINVAL = 22;

const MP_STATE_SIZE = 4;
const INTERRUPT_SIZE = 4;

/** A KVM vCPU on the thread that created it: KVM_RUN, its run page, and its register state. */
export class Vcpu {
  /** The vCPU's id. */
  readonly id: number;
  /** The mapped `kvm_run` page, where exits are read. */
  readonly runPage: RunPage;
  readonly #handle: NativeVcpuHandle;

  private constructor(handle: NativeVcpuHandle) {
    this.#handle = handle;
    this.id = handle.id;
    this.runPage = new RunPage(handle.runBuffer);
  }

  /**
   * Creates a vCPU on this thread (KVM wants vCPU ioctls on the creating thread).
   * @throws {@link KvmIoctlError} when KVM_CREATE_VCPU or mapping its run page fails.
   */
  static create(kvmFd: number, vmFd: number, id: number): Vcpu {
    return new Vcpu(nativeCall(() => native().createVcpu(kvmFd, vmFd, id)));
  }

  /** The open vCPU file descriptor. */
  get fd(): number {
    if (this.#handle.closed) throw new ClosedError(`vCPU ${this.id} is closed`);
    return this.#handle.fd;
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.#handle.closed;
  }

  /** A token any thread can pass to kickVcpu() to make run() return KVM_EXIT_INTR. */
  get kickToken(): number {
    return this.#handle.kickToken;
  }

  /**
   * Enters the guest until the next exit; returns the exit reason (see KvmExit). KVM_EXIT_INTR means
   * "nothing to handle, run again": a kick, or an application processor that just left its
   * wait-for-SIPI state (KVM_RUN fails with EAGAIN then).
   * @throws {@link KvmIoctlError} when KVM_RUN fails (other than EAGAIN).
   */
  run(): number {
    // The hot path: no closure per call (nativeCall's wrapper costs an allocation per exit).
    try {
      return this.#handle.run();
    } catch (error) {
      if (isNativeErrnoError(error) && error.code === 'EAGAIN') return KvmExit.INTR;
      throw toVmmError(error);
    }
  }

  /**
   * Makes run() account its time in KVM_RUN: `counters[index]` sums the nanoseconds spent inside, and
   * `counters[index + 1]` holds the CLOCK_MONOTONIC time (process.hrtime's clock) of the current entry, 0 while
   * outside, so another thread sharing the array knows the time in KVM_RUN up to now. Two vDSO clock reads per run.
   * @throws {@link ArgumentError} when `counters` is not a Float64Array or `index + 1` is past its end.
   */
  setRunClock(counters: Float64Array, index: number): void {
    nativeCall(() => this.#handle.setRunClock(counters, index));
  }

  /**
   * Reads the general registers.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  getRegs(): Regs {
    return decodeRegs(this.#get('KVM_GET_REGS', REGS_SIZE));
  }
  /**
   * Sets the general registers.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  setRegs(regs: Regs): void {
    structIoctl(this.fd, 'KVM_SET_REGS', encodeRegs(regs));
  }
  /**
   * Reads the special registers (segments, control registers, EFER).
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  getSregs(): Sregs {
    return decodeSregs(this.#get('KVM_GET_SREGS', SREGS_SIZE));
  }
  /**
   * Sets the special registers.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  setSregs(sregs: Sregs): void {
    structIoctl(this.fd, 'KVM_SET_SREGS', encodeSregs(sregs));
  }
  /**
   * Reads the FPU state.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  getFpu(): Fpu {
    return decodeFpu(this.#get('KVM_GET_FPU', FPU_SIZE));
  }
  /**
   * Sets the FPU state.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  setFpu(fpu: Fpu): void {
    structIoctl(this.fd, 'KVM_SET_FPU', encodeFpu(fpu));
  }

  /**
   * Reads the given MSRs; entries KVM could not read are left out.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  getMsrs(indices: readonly number[]): MsrEntry[] {
    const bytes = encodeMsrs(indices.map((index) => ({ index, data: 0n })));
    const read = structIoctl(this.fd, 'KVM_GET_MSRS', bytes);
    return decodeMsrs(bytes, read);
  }

  /**
   * Writes MSRs; throws when KVM accepted fewer than all of them (naming the first refused).
   * @throws {@link KvmIoctlError} when KVM refuses an entry (it names the MSR).
   */
  setMsrs(entries: readonly MsrEntry[]): void {
    const written = structIoctl(this.fd, 'KVM_SET_MSRS', encodeMsrs(entries));
    if (written !== entries.length) {
      const refused = entries[written];
      throw new KvmIoctlError('KVM_SET_MSRS', EINVAL, 'EINVAL', `KVM_SET_MSRS refused MSR 0x${refused?.index.toString(16)} (${written} of ${entries.length} written)`);
    }
  }

  /**
   * Reads the CPUID the vCPU reports.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  getCpuid(): CpuidEntry[] {
    const bytes = emptyCpuid(MAX_CPUID_ENTRIES);
    structIoctl(this.fd, 'KVM_GET_CPUID2', bytes);
    return decodeCpuid(bytes);
  }
  /**
   * Sets the CPUID the vCPU reports.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  setCpuid(entries: readonly CpuidEntry[]): void {
    structIoctl(this.fd, 'KVM_SET_CPUID2', encodeCpuid(entries));
  }

  /**
   * The local APIC register page (struct kvm_lapic_state, 1 KiB).
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  getLapic(): Uint8Array {
    return this.#get('KVM_GET_LAPIC', structSize('KVM_GET_LAPIC'));
  }
  /**
   * Puts back a LAPIC state from getLapic().
   * @throws {@link KvmIoctlError} when the ioctl fails.
   * @throws {@link ArgumentError} when the bytes are not a LAPIC state.
   */
  setLapic(state: Uint8Array): void {
    structIoctl(this.fd, 'KVM_SET_LAPIC', state);
  }

  /**
   * Reads the multiprocessing state.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  getMpState(): number {
    return new StructView(this.#get('KVM_GET_MP_STATE', MP_STATE_SIZE)).u32(0);
  }
  /**
   * Sets the multiprocessing state.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  setMpState(state: number): void {
    const s = new StructView(MP_STATE_SIZE);
    s.setU32(0, state);
    structIoctl(this.fd, 'KVM_SET_MP_STATE', s.bytes);
  }

  /**
   * Reads pending exceptions, interrupts and NMIs.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  getVcpuEvents(): VcpuEvents {
    return decodeVcpuEvents(this.#get('KVM_GET_VCPU_EVENTS', VCPU_EVENTS_SIZE));
  }
  /**
   * Sets pending exceptions, interrupts and NMIs.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  setVcpuEvents(events: VcpuEvents): void {
    structIoctl(this.fd, 'KVM_SET_VCPU_EVENTS', encodeVcpuEvents(events));
  }

  /**
   * The XSAVE area (struct kvm_xsave, 4 KiB).
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  getXsave(): Uint8Array {
    return this.#get('KVM_GET_XSAVE', structSize('KVM_GET_XSAVE'));
  }
  /**
   * Puts back an XSAVE area from getXsave().
   * @throws {@link KvmIoctlError} when the ioctl fails.
   * @throws {@link ArgumentError} when the area has the wrong size.
   */
  setXsave(area: Uint8Array): void {
    structIoctl(this.fd, 'KVM_SET_XSAVE', area);
  }

  /**
   * Reads the extended control registers.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  getXcrs(): Xcr[] {
    return decodeXcrs(this.#get('KVM_GET_XCRS', XCRS_SIZE));
  }
  /**
   * Sets the extended control registers.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  setXcrs(xcrs: readonly Xcr[]): void {
    structIoctl(this.fd, 'KVM_SET_XCRS', encodeXcrs(xcrs));
  }

  /**
   * Translates a guest-virtual address through the vCPU's current page tables (KVM_TRANSLATE).
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  translate(linearAddress: bigint): Translation {
    const bytes = encodeTranslationRequest(linearAddress);
    structIoctl(this.fd, 'KVM_TRANSLATE', bytes);
    return decodeTranslation(bytes);
  }

  /**
   * Queues an external interrupt (only without an in-kernel irqchip).
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  interrupt(vector: number): void {
    const s = new StructView(INTERRUPT_SIZE);
    s.setU32(0, vector);
    structIoctl(this.fd, 'KVM_INTERRUPT', s.bytes);
  }

  /**
   * Closes the vCPU fd and unmaps its run page; idempotent.
   * @throws Nothing.
   */
  close(): void {
    this.#handle.close();
  }

  /**
   * The same as close(), for `using`.
   * @throws Nothing.
   */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * A state struct as the kernel lays it out (for snapshots: saved and put back byte for byte, so
   * every field KVM knows survives, including ones this VMM does not model).
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  getStateBytes(kind: VcpuStateStruct): Uint8Array {
    const [get] = STATE_IOCTLS[kind];
    return this.#get(get, structSize(get));
  }

  /**
   * Puts back raw state bytes from getStateBytes().
   * @throws {@link ArgumentError} when the bytes have the wrong size.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  setStateBytes(kind: VcpuStateStruct, bytes: Uint8Array): void {
    const [get, set] = STATE_IOCTLS[kind];
    if (bytes.length !== structSize(get)) throw new ArgumentError(`${kind} state must be ${structSize(get)} bytes, not ${bytes.length}`);
    structIoctl(this.fd, set, bytes);
  }

  #get(name: Parameters<typeof structIoctl>[1], size: number): Uint8Array {
    const bytes = new Uint8Array(size);
    structIoctl(this.fd, name, bytes);
    return bytes;
  }
}

/** The vCPU state structs saved and restored as raw bytes. */
export type VcpuStateStruct = 'regs' | 'sregs' | 'fpu' | 'xsave' | 'xcrs' | 'debugregs' | 'lapic' | 'events';

const STATE_IOCTLS: Readonly<Record<VcpuStateStruct, readonly [Parameters<typeof structIoctl>[1], Parameters<typeof structIoctl>[1]]>> = {
  regs: ['KVM_GET_REGS', 'KVM_SET_REGS'],
  sregs: ['KVM_GET_SREGS', 'KVM_SET_SREGS'],
  fpu: ['KVM_GET_FPU', 'KVM_SET_FPU'],
  xsave: ['KVM_GET_XSAVE', 'KVM_SET_XSAVE'],
  xcrs: ['KVM_GET_XCRS', 'KVM_SET_XCRS'],
  debugregs: ['KVM_GET_DEBUGREGS', 'KVM_SET_DEBUGREGS'],
  lapic: ['KVM_GET_LAPIC', 'KVM_SET_LAPIC'],
  events: ['KVM_GET_VCPU_EVENTS', 'KVM_SET_VCPU_EVENTS'],
};

/** Makes the vCPU with this kick token leave KVM_RUN (from any thread). False when it is gone. */
export function kickVcpu(token: number): boolean {
  return native().kickVcpu(token);
}
