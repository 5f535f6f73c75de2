// Typed errors of the VMM. Every error says what failed and, where the user can act, what to do.

/** The base class of every error node-vmm throws; `name` is the subclass's name. */
export class VmmError extends Error {
  /**
   * Makes an error with a message and, optionally, the error that caused it.
   * @throws Nothing.
   */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A system call or KVM ioctl failed. */
export class KvmIoctlError extends VmmError {
  /** The name of the system call or ioctl that failed, e.g. `KVM_CREATE_VM`. */
  readonly ioctl: string;
  /** The errno it failed with. */
  readonly errno: number;
  /** The errno's name, e.g. `EINVAL`. */
  readonly code: string;
  /**
   * Makes the error for a failed call (node-vmm makes these from the addon's errors).
   * @throws Nothing.
   */
  constructor(ioctl: string, errno: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.ioctl = ioctl;
    this.errno = errno;
    this.code = code;
  }
}

/** /dev/kvm is missing, not accessible, or of an unsupported API version. */
export class KvmUnavailableError extends VmmError {
  /** Why: the device is missing, not accessible, of another API version, or something else. */
  readonly reason: 'missing' | 'permission' | 'api-version' | 'other';
  /**
   * Makes the error with its reason and a message that says what to do.
   * @throws Nothing.
   */
  constructor(reason: KvmUnavailableError['reason'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/** The host's KVM lacks a capability this VMM needs. */
export class KvmCapabilityError extends VmmError {
  /** The missing capability's name, e.g. `IRQFD`. */
  readonly capability: string;
  /**
   * Makes the error for a missing capability.
   * @throws Nothing.
   */
  constructor(capability: string, message: string) {
    super(message);
    this.capability = capability;
  }
}

/** A guest-physical address range is not backed by guest RAM. */
export class GuestMemoryError extends VmmError {
  /** The start of the guest-physical range that is not in RAM. */
  readonly address: bigint;
  /** The range's length in bytes. */
  readonly length: number;
  /**
   * Makes the error for a range; the default message names it.
   * @throws Nothing.
   */
  constructor(address: bigint, length: number, message?: string) {
    super(message ?? `guest-physical range 0x${address.toString(16)}+${length} is not inside guest RAM`);
    this.address = address;
    this.length = length;
  }
}

/** Invalid VM or memory configuration. */
export class ConfigError extends VmmError {}

/** A device tried to claim bus addresses another device already owns, or an invalid range. */
export class BusError extends VmmError {}

/** A vCPU thread failed (its worker crashed or an exit could not be handled). */
export class VcpuError extends VmmError {
  /** The index of the vCPU that failed. */
  readonly vcpu: number;
  /**
   * Makes the error for a vCPU.
   * @throws Nothing.
   */
  constructor(vcpu: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.vcpu = vcpu;
  }
}

/** The object was used after it was closed or disposed. */
export class ClosedError extends VmmError {}

/** A device's host side failed (polling its fds, its back end's thread); the guest is not to blame. */
export class DeviceError extends VmmError {}

/** An argument the native addon refused (a wrong type, length or range): a bug in the caller. */
export class ArgumentError extends VmmError {}

interface NativeErrnoError {
  message: string;
  syscall: string;
  errno: number;
  code: string;
}

export function isNativeErrnoError(error: unknown): error is NativeErrnoError {
  return (
    error instanceof Error &&
    typeof (error as Partial<NativeErrnoError>).syscall === 'string' &&
    typeof (error as Partial<NativeErrnoError>).errno === 'number'
  );
}

/** Turns a native errno error into KvmIoctlError and an argument error into ArgumentError. */
export function toVmmError(error: unknown): unknown {
  if (isNativeErrnoError(error)) return new KvmIoctlError(error.syscall, error.errno, error.code, error.message, { cause: error });
  if (error instanceof TypeError || error instanceof RangeError) return new ArgumentError(error.message, { cause: error });
  return error;
}

/** Runs a native call: errno errors become KvmIoctlError, argument errors ArgumentError. */
export function nativeCall<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw toVmmError(error);
  }
}
