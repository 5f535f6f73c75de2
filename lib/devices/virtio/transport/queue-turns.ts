// A back end that serves one queue in bounded turns: each notification serves what the queue holds up
// to the turn's budget (the subclass decides), signals the driver once, and if the budget ran out
// while chains wait, goes on in a later turn of the event loop (setImmediate) so that its thread
// stays responsive (pause, quiesce, other devices). Nothing is in flight between turns.
import type { BackendContext, VirtioBackend } from './backend';
import { deviceBroken, openQueues, signalUsed } from './backend-support';
import type { SplitVirtqueue } from './split-virtqueue';

export abstract class QueueTurnBackend implements VirtioBackend {
  protected readonly context: BackendContext;
  #queue: SplitVirtqueue | undefined;
  #running = true;
  #continuation: NodeJS.Immediate | undefined;
  /** A host-side failure that stopped the device (guest errors only set NEEDS_RESET). */
  error: Error | undefined;

  constructor(context: BackendContext) {
    this.context = context;
  }

  /** Serves chains until the queue is empty or the turn's budget is spent; returns true for the latter. */
  protected abstract serveTurn(queue: SplitVirtqueue): { served: number; budgetSpent: boolean };

  activate(): void {
    this.#queue = openQueues(this.context, [0])?.[0];
  }

  reset(): void {
    this.#queue = undefined;
    this.#cancel();
  }

  notify(_queue = 0): void {
    if (this.#continuation === undefined) this.#turn();
  }

  pause(): void {
    this.#running = false;
    this.#cancel();
  }

  resume(): void {
    this.#running = true;
  }

  quiesce(): void {
    this.pause();
    this.#queue = undefined;
  }

  /** Resolves once every chain made available so far has been served (a continuation may be pending). */
  async idle(): Promise<void> {
    while (this.#continuation !== undefined) await new Promise((resolve) => setImmediate(resolve));
  }

  #cancel(): void {
    if (this.#continuation !== undefined) clearImmediate(this.#continuation);
    this.#continuation = undefined;
  }

  #turn(): void {
    this.#continuation = undefined;
    const queue = this.#queue;
    if (!this.#running || queue === undefined || queue.failure !== undefined) return;
    try {
      const { served, budgetSpent } = this.serveTurn(queue);
      if (served > 0) signalUsed(this.context, queue);
      if (budgetSpent && queue.pending > 0) this.#continuation = setImmediate(() => this.#turn());
    } catch (error) {
      this.error = deviceBroken(this.context, error) ?? this.error;
    }
  }
}
