// Kvm: the /dev/kvm system handle. Opens it with clear errors, answers capability questions, creates VMs.
import { native, NativeFdHandle } from '../native/binding';
import { KVM_API_VERSION, KvmCap, KvmCapName, REQUIRED_CAPABILITIES } from './constants';
import { ClosedError, KvmCapabilityError, KvmIoctlError, KvmUnavailableError, nativeCall } from './errors';
import { structIoctl, valueIoctl } from './ioctl';
import { CpuidEntry, decodeCpuid, emptyCpuid, MAX_CPUID_ENTRIES } from './structs/cpuid';
import { decodeMsrList, emptyMsrList } from './structs/msrs';
import { Vm } from './vm';

/** Where KVM is opened unless told otherwise. */
export const DEFAULT_KVM_PATH = '/dev/kvm';
const MSR_LIST_CAPACITY = 1024;

/** The open `/dev/kvm`: its API version, capabilities, supported CPUID and MSRs, and VM creation. */
export class Kvm {
  /** The device's path. */
  readonly path: string;
  /** The KVM API version (12). */
  readonly apiVersion: number;
  readonly #handle: NativeFdHandle;

  private constructor(path: string, handle: NativeFdHandle) {
    this.path = path;
    this.#handle = handle;
    this.apiVersion = valueIoctl(handle.fd, 'KVM_GET_API_VERSION');
  }

  /**
   * Opens /dev/kvm (or `path`); throws KvmUnavailableError saying what to do when that fails.
   * @throws {@link KvmUnavailableError} when the device is missing, not accessible, or of another API version.
   */
  static open(path: string = DEFAULT_KVM_PATH): Kvm {
    let handle: NativeFdHandle;
    try {
      handle = nativeCall(() => native().openKvm(path));
    } catch (error) {
      throw explainOpenFailure(path, error);
    }
    let kvm: Kvm;
    try {
      kvm = new Kvm(path, handle);
    } catch (error) {
      // KVM_GET_API_VERSION failed: not a KVM device (say, /dev/null). The handle must not outlive it.
      handle.close();
      throw new KvmUnavailableError('other', `${path} is not a KVM device: ${(error as Error).message}`, { cause: error });
    }
    if (kvm.apiVersion !== KVM_API_VERSION) {
      kvm.close();
      throw new KvmUnavailableError('api-version', `${path} reports KVM API version ${kvm.apiVersion}; node-vmm needs ${KVM_API_VERSION}`);
    }
    return kvm;
  }

  /** The open file descriptor. */
  get fd(): number {
    if (this.#handle.closed) throw new ClosedError('the KVM handle is closed');
    return this.#handle.fd;
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.#handle.closed;
  }

  /**
   * KVM_CHECK_EXTENSION: 0 when absent, otherwise a positive (capability-specific) value.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   * @throws {@link ClosedError} when the handle is closed.
   */
  checkExtension(cap: KvmCapName | number): number {
    const number = typeof cap === 'number' ? cap : KvmCap[cap];
    return valueIoctl(this.fd, 'KVM_CHECK_EXTENSION', number);
  }

  /**
   * Whether the host's KVM has a capability.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   * @throws {@link ClosedError} when the handle is closed.
   */
  hasCapability(cap: KvmCapName): boolean {
    return this.checkExtension(cap) > 0;
  }

  /**
   * Throws KvmCapabilityError for the first capability the host lacks.
   * @throws {@link KvmCapabilityError} when one is missing.
   */
  requireCapabilities(caps: readonly KvmCapName[] = REQUIRED_CAPABILITIES): void {
    for (const cap of caps) {
      if (!this.hasCapability(cap)) {
        throw new KvmCapabilityError(cap, `the host's KVM lacks KVM_CAP_${cap}; use a newer kernel or a host with hardware virtualization`);
      }
    }
  }

  /** The size of a vCPU's run page mapping. */
  get vcpuMmapSize(): number {
    return valueIoctl(this.fd, 'KVM_GET_VCPU_MMAP_SIZE');
  }

  /**
   * KVM_GET_SUPPORTED_CPUID: every leaf the host can offer a guest.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  supportedCpuid(): CpuidEntry[] {
    const bytes = emptyCpuid(MAX_CPUID_ENTRIES);
    structIoctl(this.fd, 'KVM_GET_SUPPORTED_CPUID', bytes);
    return decodeCpuid(bytes);
  }

  /**
   * KVM_GET_MSR_INDEX_LIST: the MSRs a VMM may save and restore.
   * @throws {@link KvmIoctlError} when the ioctl fails.
   */
  msrIndexList(): number[] {
    const bytes = emptyMsrList(MSR_LIST_CAPACITY);
    structIoctl(this.fd, 'KVM_GET_MSR_INDEX_LIST', bytes);
    return decodeMsrList(bytes);
  }

  /**
   * Creates a VM.
   * @throws {@link KvmIoctlError} when KVM_CREATE_VM fails.
   * @throws {@link ClosedError} when the handle is closed.
   */
  createVm(): Vm {
    return Vm.create(this);
  }

  /**
   * Closes the device; idempotent.
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
}

function explainOpenFailure(path: string, error: unknown): Error {
  if (!(error instanceof KvmIoctlError)) return error as Error;
  switch (error.code) {
    case 'ENOENT':
    case 'ENODEV':
    case 'ENXIO':
      return new KvmUnavailableError(
        'missing',
        `${path} does not exist: load the kvm module (modprobe kvm_intel or kvm_amd) on a host with VT-x/AMD-V, or enable nested virtualization for this VM`,
        { cause: error },
      );
    case 'EACCES':
    case 'EPERM':
      return new KvmUnavailableError(
        'permission',
        `no permission to open ${path}: add your user to the 'kvm' group (sudo usermod -aG kvm $USER, then log in again) or run as root`,
        { cause: error },
      );
    default:
      return new KvmUnavailableError('other', `cannot open ${path}: ${error.message}`, { cause: error });
  }
}
