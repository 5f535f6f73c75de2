// Vm: a KVM virtual machine fd with its VM-level ioctls (memory slots, irqchip, PIT, irqfd, ioeventfd, clock).
import { native, NativeVmHandle } from '../native/binding';
import { KvmCap, KvmCapName, KVM_IOEVENTFD_FLAG_DATAMATCH, KVM_IOEVENTFD_FLAG_DEASSIGN, KVM_IOEVENTFD_FLAG_PIO, KVM_IRQFD_FLAG_DEASSIGN, KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, KVM_PIT_SPEAKER_DUMMY } from './constants';
import { ArgumentError, ClosedError, nativeCall } from './errors';
import { structIoctl, structSize, valueIoctl } from './ioctl';
import { StructView } from './structs/cursor';
import type { Kvm } from './kvm';
import { Vcpu } from './vcpu';

const IRQ_LEVEL_SIZE = 8;
const IRQFD_SIZE = 32;
const IOEVENTFD_SIZE = 64;
const CLOCK_DATA_SIZE = 48;
const PIT_CONFIG_SIZE = 64;
const IDENTITY_MAP_ADDR_SIZE = 8;

/** How a memory slot is registered. */
export interface MemoryRegionOptions {
  /** The guest may only read the slot (writes exit as MMIO). */
  readonly?: boolean;
  /** KVM records the pages the guest writes (getDirtyLog()). */
  logDirtyPages?: boolean;
}

/** Where an ioeventfd listens: an address, its width and space, and optionally a value. */
export interface IoEventFdOptions {
  /** Port I/O (true) or MMIO (false). */
  pio: boolean;
  /** The port or guest-physical address. */
  address: bigint | number;
  /** Access width in bytes: 0 (any), 1, 2, 4 or 8. */
  length: 0 | 1 | 2 | 4 | 8;
  /** Only signal when the written value equals this. */
  datamatch?: bigint;
}

/** KVM_GET_IRQCHIP's chip ids. */
export const IrqchipId = { PIC_MASTER: 0, PIC_SLAVE: 1, IOAPIC: 2 } as const;
export type IrqchipId = (typeof IrqchipId)[keyof typeof IrqchipId];

/** The KVM clock as KVM_GET_CLOCK reports it. */
export interface ClockData {
  /** The clock in nanoseconds. */
  clock: bigint;
  /** KVM_CLOCK_* flags saying which fields are valid. */
  flags: number;
  /** The host's CLOCK_REALTIME at the reading, where valid. */
  realtime: bigint;
  /** The host's TSC at the reading, where valid. */
  hostTsc: bigint;
}

/**
 * A KVM VM: memory slots, the in-kernel irqchip and PIT, interrupt lines, irqfds and ioeventfds, the clock, and
 * vCPU creation.
 */
export class Vm {
  /** The KVM handle it was created from. */
  readonly kvm: Kvm;
  readonly #handle: NativeVmHandle;

  private constructor(kvm: Kvm, handle: NativeVmHandle) {
    this.kvm = kvm;
    this.#handle = handle;
  }

  /**
   * Creates a VM (KVM_CREATE_VM).
   * @throws {@link KvmIoctlError} when KVM refuses.
   * @throws {@link ClosedError} when `kvm` is closed.
   */
  static create(kvm: Kvm): Vm {
    return new Vm(kvm, nativeCall(() => native().createVm(kvm.fd)));
  }

  /** The open VM file descriptor. */
  get fd(): number {
    if (this.#handle.closed) throw new ClosedError('the VM is closed');
    return this.#handle.fd;
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.#handle.closed;
  }

  /**
   * Asks the VM about a capability (KVM_CHECK_EXTENSION on the VM fd).
   * @throws {@link KvmIoctlError} when the ioctl fails.
   * @throws {@link ClosedError} when the VM is closed.
   */
  checkExtension(cap: KvmCapName): number {
    return valueIoctl(this.fd, 'KVM_CHECK_EXTENSION', KvmCap[cap]);
  }

  /**
   * Maps host memory (from a GuestMapping) at a guest-physical address; size 0 deletes the slot.
   * @throws {@link KvmIoctlError} when KVM refuses the slot.
   * @throws {@link ArgumentError} when an argument is out of range.
   */
  setUserMemoryRegion(slot: number, guestAddress: bigint | number, hostAddress: bigint, size: bigint | number, options: MemoryRegionOptions = {}): void {
    const flags = (options.readonly ? KVM_MEM_READONLY : 0) | (options.logDirtyPages ? KVM_MEM_LOG_DIRTY_PAGES : 0);
    nativeCall(() => this.#handle.setUserMemoryRegion(slot, flags, guestAddress, hostAddress, size));
  }

  /**
   * Deletes a memory slot.
   * @throws {@link KvmIoctlError} when KVM refuses.
   */
  deleteMemoryRegion(slot: number): void {
    nativeCall(() => this.#handle.setUserMemoryRegion(slot, 0, 0, 0n, 0));
  }

  /**
   * Dirty-page bitmap of a slot created with logDirtyPages (bit n = page n), and resets it.
   * @throws {@link KvmIoctlError} when the slot does not log dirty pages.
   */
  getDirtyLog(slot: number): Uint8Array {
    return new Uint8Array(nativeCall(() => this.#handle.getDirtyLog(slot)));
  }

  /**
   * Three pages of guest-physical space KVM needs for its real-mode TSS on Intel.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  setTssAddress(address: number): void {
    valueIoctl(this.fd, 'KVM_SET_TSS_ADDR', address);
  }

  /**
   * Sets the address of the identity-map page KVM needs (below 4 GiB, outside RAM).
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  setIdentityMapAddress(address: bigint | number): void {
    const s = new StructView(IDENTITY_MAP_ADDR_SIZE);
    s.setU64(0, address);
    structIoctl(this.fd, 'KVM_SET_IDENTITY_MAP_ADDR', s.bytes);
  }

  /**
   * In-kernel PIC, IOAPIC and LAPICs.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  createIrqchip(): void {
    valueIoctl(this.fd, 'KVM_CREATE_IRQCHIP');
  }

  /**
   * Creates the in-kernel PIT.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  createPit2(): void {
    const s = new StructView(PIT_CONFIG_SIZE);
    s.setU32(0, KVM_PIT_SPEAKER_DUMMY);
    structIoctl(this.fd, 'KVM_CREATE_PIT2', s.bytes);
  }

  /**
   * Raises or lowers an interrupt line of the in-kernel irqchip.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  irqLine(irq: number, level: boolean): void {
    setIrqLine(this.fd, irq, level);
  }

  /**
   * Makes a write to `eventFd` raise guest interrupt `gsi` (deassign: undo).
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  irqfd(eventFd: number, gsi: number, options: { deassign?: boolean; resampleFd?: number } = {}): void {
    const s = new StructView(IRQFD_SIZE);
    s.setU32(0, eventFd);
    s.setU32(4, gsi);
    s.setU32(8, options.deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0);
    s.setU32(12, options.resampleFd ?? 0);
    structIoctl(this.fd, 'KVM_IRQFD', s.bytes);
  }

  /**
   * Makes a guest write to a port/MMIO address signal `eventFd` without a vCPU exit to userspace.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  ioeventfd(eventFd: number, options: IoEventFdOptions & { deassign?: boolean }): void {
    const s = new StructView(IOEVENTFD_SIZE);
    let flags = options.pio ? KVM_IOEVENTFD_FLAG_PIO : 0;
    if (options.datamatch !== undefined) flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
    if (options.deassign) flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
    s.setU64(0, options.datamatch ?? 0n);
    s.setU64(8, options.address);
    s.setU32(16, options.length);
    s.setU32(20, eventFd);
    s.setU32(24, flags);
    structIoctl(this.fd, 'KVM_IOEVENTFD', s.bytes);
  }

  /**
   * Reads the KVM clock.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  getClock(): ClockData {
    const s = new StructView(CLOCK_DATA_SIZE);
    structIoctl(this.fd, 'KVM_GET_CLOCK', s.bytes);
    return { clock: s.u64(0), flags: s.u32(8), realtime: s.u64(16), hostTsc: s.u64(24) };
  }

  /**
   * Sets the KVM clock (on restore).
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  setClock(clock: bigint, flags = 0): void {
    const s = new StructView(CLOCK_DATA_SIZE);
    s.setU64(0, clock);
    s.setU32(8, flags);
    structIoctl(this.fd, 'KVM_SET_CLOCK', s.bytes);
  }

  /**
   * An in-kernel interrupt controller's state (struct kvm_irqchip) as the kernel lays it out: chip 0
   * is the master PIC, 1 the slave PIC, 2 the IOAPIC. For snapshots.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  getIrqchip(chip: IrqchipId): Uint8Array {
    const bytes = new Uint8Array(structSize('KVM_GET_IRQCHIP'));
    new DataView(bytes.buffer).setUint32(0, chip, true);
    structIoctl(this.fd, 'KVM_GET_IRQCHIP', bytes);
    return bytes;
  }

  /**
   * Puts back a state from getIrqchip().
   * @throws {@link ArgumentError} when the bytes are not one chip's state.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  setIrqchip(bytes: Uint8Array): void {
    if (bytes.length !== structSize('KVM_SET_IRQCHIP')) throw new ArgumentError(`irqchip state must be ${structSize('KVM_SET_IRQCHIP')} bytes`);
    structIoctl(this.fd, 'KVM_SET_IRQCHIP', bytes.slice());
  }

  /**
   * The in-kernel PIT's state (struct kvm_pit_state2).
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  getPit2(): Uint8Array {
    const bytes = new Uint8Array(structSize('KVM_GET_PIT2'));
    structIoctl(this.fd, 'KVM_GET_PIT2', bytes);
    return bytes;
  }

  /**
   * Puts back a state from getPit2().
   * @throws {@link ArgumentError} when the bytes are not a PIT state.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  setPit2(bytes: Uint8Array): void {
    if (bytes.length !== structSize('KVM_SET_PIT2')) throw new ArgumentError(`PIT state must be ${structSize('KVM_SET_PIT2')} bytes`);
    structIoctl(this.fd, 'KVM_SET_PIT2', bytes.slice());
  }

  /**
   * Creates a vCPU on the calling thread (KVM wants its ioctls there).
   * @throws {@link KvmIoctlError} when KVM_CREATE_VCPU fails.
   */
  createVcpu(id: number): Vcpu {
    return Vcpu.create(this.kvm.fd, this.fd, id);
  }

  /**
   * Closes the VM fd; idempotent. Blocks for milliseconds when the VM has a PIT (see closeInBackground()).
   * @throws Nothing.
   */
  close(): void {
    this.#handle.close();
  }

  /**
   * Closes the VM off this thread: the kernel's teardown (7-23 ms with a PIT, measured) runs on a pool thread.
   * @throws Nothing.
   */
  closeInBackground(): Promise<void> {
    return this.#handle.closeInBackground();
  }

  /**
   * The same as close(), for `using`.
   * @throws Nothing.
   */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** KVM_IRQ_LINE on a VM fd; usable from any thread (vCPU workers raise device interrupts with it). */
export function setIrqLine(vmFd: number, irq: number, level: boolean): void {
  const s = new StructView(IRQ_LEVEL_SIZE);
  s.setU32(0, irq);
  s.setU32(4, level ? 1 : 0);
  structIoctl(vmFd, 'KVM_IRQ_LINE', s.bytes);
}
