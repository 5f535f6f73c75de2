// Host resources a device uses exclusively, claimed for as long as it lives: a disk it may write, a
// vsock Unix socket path, a TAP interface. Two live VMs of this process never silently share one (a
// clone of a snapshot must be given its own, or fail): a second claim is refused with a ClaimError.
// A read-only disk is not claimed: any number of VMs may share it.
import { ConfigError } from '../kvm/errors';

export type ClaimKind = 'writable disk' | 'vsock socket' | 'TAP';

/** A resource another live device already uses. */
export class ClaimError extends ConfigError {
  readonly kind: ClaimKind;
  readonly resource: string;
  constructor(kind: ClaimKind, resource: string) {
    super(`${kind} ${resource} is in use by another live VM of this process`);
    this.kind = kind;
    this.resource = resource;
  }
}

const claimed = new Map<string, object>();

const keyOf = (kind: ClaimKind, resource: string): string => `${kind}\0${resource}`;

/**
 * Claims the resource `key` names (an inode, a path, a name) for `owner`; throws ClaimError (saying
 * `label`) if another owner holds it. Returns the release.
 */
export function claim(kind: ClaimKind, key: string, owner: object, label = key): () => void {
  const entry = keyOf(kind, key);
  const holder = claimed.get(entry);
  if (holder !== undefined && holder !== owner) throw new ClaimError(kind, label);
  claimed.set(entry, owner);
  return () => {
    if (claimed.get(entry) === owner) claimed.delete(entry);
  };
}
