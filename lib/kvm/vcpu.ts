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

export class Vcpu {
  readonly id: number;
  readonly runPage: RunPage;
  readonly #handle: NativeVcpuHandle;

  private constructor(handle: NativeVcpuHandle) {
    this.#handle = handle;
    this.id = handle.id;
    this.runPage = new RunPage(handle.runBuffer);
  }

  static create(kvmFd: number, vmFd: number, id: number): Vcpu {
    return new Vcpu(nativeCall(() => native().createVcpu(kvmFd, vmFd, id)));
  }

  get fd(): number {
    if (this.#handle.closed) throw new ClosedError(`vCPU ${this.id} is closed`);
    return this.#handle.fd;
  }

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

  getRegs(): Regs {
    return decodeRegs(this.#get('KVM_GET_REGS', REGS_SIZE));
  }
  setRegs(regs: Regs): void {
    structIoctl(this.fd, 'KVM_SET_REGS', encodeRegs(regs));
  }
  getSregs(): Sregs {
    return decodeSregs(this.#get('KVM_GET_SREGS', SREGS_SIZE));
  }
  setSregs(sregs: Sregs): void {
    structIoctl(this.fd, 'KVM_SET_SREGS', encodeSregs(sregs));
  }
  getFpu(): Fpu {
    return decodeFpu(this.#get('KVM_GET_FPU', FPU_SIZE));
  }
  setFpu(fpu: Fpu): void {
    structIoctl(this.fd, 'KVM_SET_FPU', encodeFpu(fpu));
  }

  /** Reads the given MSRs; entries KVM could not read are left out. */
  getMsrs(indices: readonly number[]): MsrEntry[] {
    const bytes = encodeMsrs(indices.map((index) => ({ index, data: 0n })));
    const read = structIoctl(this.fd, 'KVM_GET_MSRS', bytes);
    return decodeMsrs(bytes, read);
  }

  /** Writes MSRs; throws when KVM accepted fewer than all of them (naming the first refused). */
  setMsrs(entries: readonly MsrEntry[]): void {
    const written = structIoctl(this.fd, 'KVM_SET_MSRS', encodeMsrs(entries));
    if (written !== entries.length) {
      const refused = entries[written];
      throw new KvmIoctlError('KVM_SET_MSRS', EINVAL, 'EINVAL', `KVM_SET_MSRS refused MSR 0x${refused?.index.toString(16)} (${written} of ${entries.length} written)`);
    }
  }

  getCpuid(): CpuidEntry[] {
    const bytes = emptyCpuid(MAX_CPUID_ENTRIES);
    structIoctl(this.fd, 'KVM_GET_CPUID2', bytes);
    return decodeCpuid(bytes);
  }
  setCpuid(entries: readonly CpuidEntry[]): void {
    structIoctl(this.fd, 'KVM_SET_CPUID2', encodeCpuid(entries));
  }

  /** The local APIC register page (struct kvm_lapic_state, 1 KiB). */
  getLapic(): Uint8Array {
    return this.#get('KVM_GET_LAPIC', structSize('KVM_GET_LAPIC'));
  }
  setLapic(state: Uint8Array): void {
    structIoctl(this.fd, 'KVM_SET_LAPIC', state);
  }

  getMpState(): number {
    return new StructView(this.#get('KVM_GET_MP_STATE', MP_STATE_SIZE)).u32(0);
  }
  setMpState(state: number): void {
    const s = new StructView(MP_STATE_SIZE);
    s.setU32(0, state);
    structIoctl(this.fd, 'KVM_SET_MP_STATE', s.bytes);
  }

  getVcpuEvents(): VcpuEvents {
    return decodeVcpuEvents(this.#get('KVM_GET_VCPU_EVENTS', VCPU_EVENTS_SIZE));
  }
  setVcpuEvents(events: VcpuEvents): void {
    structIoctl(this.fd, 'KVM_SET_VCPU_EVENTS', encodeVcpuEvents(events));
  }

  /** The XSAVE area (struct kvm_xsave, 4 KiB). */
  getXsave(): Uint8Array {
    return this.#get('KVM_GET_XSAVE', structSize('KVM_GET_XSAVE'));
  }
  setXsave(area: Uint8Array): void {
    structIoctl(this.fd, 'KVM_SET_XSAVE', area);
  }

  getXcrs(): Xcr[] {
    return decodeXcrs(this.#get('KVM_GET_XCRS', XCRS_SIZE));
  }
  setXcrs(xcrs: readonly Xcr[]): void {
    structIoctl(this.fd, 'KVM_SET_XCRS', encodeXcrs(xcrs));
  }

  /** Translates a guest-virtual address through the vCPU's current page tables (KVM_TRANSLATE). */
  translate(linearAddress: bigint): Translation {
    const bytes = encodeTranslationRequest(linearAddress);
    structIoctl(this.fd, 'KVM_TRANSLATE', bytes);
    return decodeTranslation(bytes);
  }

  /** Queues an external interrupt (only without an in-kernel irqchip). */
  interrupt(vector: number): void {
    const s = new StructView(INTERRUPT_SIZE);
    s.setU32(0, vector);
    structIoctl(this.fd, 'KVM_INTERRUPT', s.bytes);
  }

  close(): void {
    this.#handle.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * A state struct as the kernel lays it out (for snapshots: saved and put back byte for byte, so
   * every field KVM knows survives, including ones this VMM does not model).
   */
  getStateBytes(kind: VcpuStateStruct): Uint8Array {
    const [get] = STATE_IOCTLS[kind];
    return this.#get(get, structSize(get));
  }

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
