// What can be wrong with a snapshot or a restore: each a SnapshotError with a code, thrown before
// anything is half-created (no fd, mapping or worker is left behind).
import { VmmError } from '../../kvm/errors';

/**
 * The codes of {@link SnapshotError}: TRUNCATED, BAD_CHECKSUM, UNSUPPORTED_VERSION, WRONG_ARCH, BAD_MAGIC,
 * BAD_STATE, MEMORY_SIZE, OVERRIDE_MISMATCH, RESOURCE_IN_USE, UNSUPPORTED_DEVICE, NOT_AVAILABLE, IO.
 */
export type SnapshotErrorCode =
  /** The state file is not a node-vmm snapshot (magic). */
  | 'BAD_MAGIC'
  /** The state file is shorter than its header says. */
  | 'TRUNCATED'
  /** The state file's checksum does not match: it was changed or damaged. */
  | 'BAD_CHECKSUM'
  /** A format version this node-vmm does not read. */
  | 'UNSUPPORTED_VERSION'
  /** Saved on another architecture. */
  | 'WRONG_ARCH'
  /** The state parses but does not describe a machine this node-vmm can rebuild. */
  | 'BAD_STATE'
  /** The memory file's size is not the snapshot's guest memory. */
  | 'MEMORY_SIZE'
  /** A device that cannot be snapshotted (a custom device). */
  | 'UNSUPPORTED_DEVICE'
  /** An override names a device the snapshot does not have, or is malformed. */
  | 'OVERRIDE_MISMATCH'
  /** A writable disk, vsock socket or TAP another live VM uses (clones need overrides for them). */
  | 'RESOURCE_IN_USE'
  /** The VM (or in-memory snapshot) is no longer there: ended, disposed. */
  | 'NOT_AVAILABLE'
  /** Reading or writing a snapshot file failed. */
  | 'IO';

/**
 * A snapshot that cannot be taken or restored; `code` says why and `device`, where it is one device's fault, names
 * it.
 */
export class SnapshotError extends VmmError {
  /** Why, as a stable code. */
  readonly code: SnapshotErrorCode;
  /** The device an error is about, when it is about one. */
  readonly device: string | undefined;

  /**
   * Makes the error with its code and, optionally, the device at fault.
   * @throws Nothing.
   */
  constructor(code: SnapshotErrorCode, message: string, options?: { cause?: unknown; device?: string }) {
    super(message, options);
    this.code = code;
    this.device = options?.device;
  }
}
