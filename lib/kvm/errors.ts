// Typed errors of the VMM. Every error says what failed and, where the user can act, what to do.

export class VmmError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A system call or KVM ioctl failed. */
export class KvmIoctlError extends VmmError {
  readonly ioctl: string;
  readonly errno: number;
  readonly code: string;
  constructor(ioctl: string, errno: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.ioctl = ioctl;
    this.errno = errno;
    this.code = code;
  }
}

/** /dev/kvm is missing, not accessible, or of an unsupported API version. */
export class KvmUnavailableError extends VmmError {
  readonly reason: 'missing' | 'permission' | 'api-version' | 'other';
  constructor(reason: KvmUnavailableError['reason'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/** The host's KVM lacks a capability this VMM needs. */
export class KvmCapabilityError extends VmmError {
  readonly capability: string;
  constructor(capability: string, message: string) {
    super(message);
    this.capability = capability;
  }
}

/** A guest-physical address range is not backed by guest RAM. */
export class GuestMemoryError extends VmmError {
  readonly address: bigint;
  readonly length: number;
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
  readonly vcpu: number;
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
