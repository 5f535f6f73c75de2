// An in-memory snapshot: the machine's state and its guest memory in a memfd. Every VM restored from
// it maps that memfd copy-on-write, so clones share the snapshot's pages until each writes its own.
// dispose() closes the memfd; VMs restored from it keep their mappings (the pages live on with them).
import { nativeCall } from '../../kvm/errors';
import { native, type NativeFdHandle } from '../../native/binding';
import { SnapshotError } from './errors';
import type { SnapshotState } from './state';

const MEMFD_NAME = 'node-vmm snapshot memory';

/** A snapshot held in memory: the VM's state, and its guest memory in a memfd that restores map copy-on-write. */
export class VmSnapshot {
  readonly #state: SnapshotState;
  readonly #memory: NativeFdHandle;

  /**
   * Wraps a captured state and its memory; VirtualMachine.snapshot() makes these.
   * @internal Made by VirtualMachine.snapshot().
   * @throws Nothing.
   */
  constructor(state: SnapshotState, memory: NativeFdHandle) {
    this.#state = state;
    this.#memory = memory;
  }

  /**
   * Creates the memfd a snapshot's memory is written into.
   * @internal A new memfd for a snapshot's memory.
   * @throws {@link KvmIoctlError} when memfd_create fails.
   */
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

  /** The number of vCPUs of the snapshotted VM. */
  get vcpus(): number {
    return this.#state.recipe.vcpus;
  }

  /** Whether dispose() has freed the snapshot. */
  get disposed(): boolean {
    return this.#memory.closed;
  }

  /**
   * The VM's saved state (devices, vCPUs, the machine's recipe).
   * @internal
   */
  get state(): SnapshotState {
    this.#requireLive();
    return this.#state;
  }

  /**
   * The memfd that holds guest memory.
   * @internal The memfd holding guest memory (valid until dispose()).
   */
  get memoryFd(): number {
    this.#requireLive();
    return this.#memory.fd;
  }

  /**
   * Releases the snapshot's memory (VMs restored from it are not affected). Idempotent.
   * @throws Nothing.
   */
  dispose(): void {
    this.#memory.close();
  }

  /**
   * The same as dispose(), for `using`.
   * @throws Nothing.
   */
  [Symbol.dispose](): void {
    this.dispose();
  }

  #requireLive(): void {
    if (this.#memory.closed) throw new SnapshotError('NOT_AVAILABLE', 'the snapshot has been disposed');
  }
}
