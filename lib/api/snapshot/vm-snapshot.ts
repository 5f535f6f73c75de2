// An in-memory snapshot: the machine's state and its guest memory in a memfd. Every VM restored from
// it maps that memfd copy-on-write, so clones share the snapshot's pages until each writes its own.
// dispose() closes the memfd; VMs restored from it keep their mappings (the pages live on with them).
import { nativeCall } from '../../kvm/errors';
import { native, type NativeFdHandle } from '../../native/binding';
import { SnapshotError } from './errors';
import type { SnapshotState } from './state';

const MEMFD_NAME = 'node-vmm snapshot memory';

export class VmSnapshot {
  readonly #state: SnapshotState;
  readonly #memory: NativeFdHandle;

  /** @internal Made by VirtualMachine.snapshot(). */
  constructor(state: SnapshotState, memory: NativeFdHandle) {
    this.#state = state;
    this.#memory = memory;
  }

  /** @internal A new memfd for a snapshot's memory. */
  static createMemory(): NativeFdHandle {
    return nativeCall(() => native().memfdCreate(MEMFD_NAME));
  }

  /** Guest RAM in bytes. */
  get memorySize(): number {
    return this.#state.recipe.memorySize;
  }

  /** Bytes of guest memory the snapshot holds (the pages ever written; the rest are holes). */
  get memoryBytes(): number {
    return this.#state.memory.regions.reduce((sum, region) => {
      let pages = 0;
      for (let at = 1; at < region.present.length; at += 2) pages += region.present[at] as number;
      return sum + pages * 4096;
    }, 0);
  }

  get vcpus(): number {
    return this.#state.recipe.vcpus;
  }

  get disposed(): boolean {
    return this.#memory.closed;
  }

  /** @internal */
  get state(): SnapshotState {
    this.#requireLive();
    return this.#state;
  }

  /** @internal The memfd holding guest memory (valid until dispose()). */
  get memoryFd(): number {
    this.#requireLive();
    return this.#memory.fd;
  }

  /** Releases the snapshot's memory (VMs restored from it are not affected). Idempotent. */
  dispose(): void {
    this.#memory.close();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #requireLive(): void {
    if (this.#memory.closed) throw new SnapshotError('NOT_AVAILABLE', 'the snapshot has been disposed');
  }
}
