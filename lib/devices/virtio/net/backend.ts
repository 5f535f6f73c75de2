// The virtio-net back end over a TAP: receiveq1 (0) and transmitq1 (1), no offloads. Frames move
// between the TAP and the descriptors' views with readv/writev (no copies). Back-pressure instead of
// drops: while the guest has no receive buffers the TAP is not read at all, so frames wait in the
// TAP's own queue until the guest posts buffers and notifies. Work is bounded per turn of the event
// loop (a queue's worth of frames each way), with one used-ring update and at most one interrupt per batch.
import type { DeviceCounters } from '../../counters';
import type { BackendContext, VirtioBackend } from '../transport/backend';
import { deviceBroken, openQueues, signalUsed } from '../transport/backend-support';
import type { SplitVirtqueue } from '../transport/split-virtqueue';
import { take } from '../transport/views';
import { FdFrames, type FrameDevice } from './frames';

export const RX_QUEUE = 0;
export const TX_QUEUE = 1;
/** struct virtio_net_hdr with num_buffers (always present with VERSION_1). */
export const NET_HEADER_SIZE = 12;
const NUM_BUFFERS_OFFSET = 10;
/** Frames moved each way per turn of the event loop before yielding (the queue size). */
export const NET_FRAMES_PER_TURN = 256;

export const NET_COUNTERS = ['rxFrames', 'rxBytes', 'txFrames', 'txBytes', 'txDropped', 'rxTruncated', 'rxWaitsForBuffers'] as const;
type NetCounter = (typeof NET_COUNTERS)[number];

export interface NetBackendArgs {
  /** The TAP's fd (non-blocking; owned by the device). */
  tapFd: number;
}

export function createBackend(context: BackendContext, args: NetBackendArgs): VirtioNetBackend {
  return new VirtioNetBackend(context, new FdFrames(args.tapFd));
}

export class VirtioNetBackend implements VirtioBackend {
  readonly #context: BackendContext;
  readonly #tap: FrameDevice;
  readonly #counters: DeviceCounters<NetCounter> | undefined;
  #rx: SplitVirtqueue | undefined;
  #tx: SplitVirtqueue | undefined;
  #running = true;
  #txContinuation: NodeJS.Immediate | undefined;
  /** A host-side failure that stopped the device (guest errors only set NEEDS_RESET). */
  error: Error | undefined;

  constructor(context: BackendContext, tap: FrameDevice) {
    this.#context = context;
    this.#tap = tap;
    this.#counters = context.counters as DeviceCounters<NetCounter> | undefined;
  }

  activate(): void {
    const queues = openQueues(this.#context, [RX_QUEUE, TX_QUEUE]);
    if (queues === undefined) return;
    [this.#rx, this.#tx] = queues;
    if (this.#running) this.#watchTap();
  }

  reset(): void {
    this.#stopSources();
    this.#rx = undefined;
    this.#tx = undefined;
  }

  notify(queue: number): void {
    if (!this.#running) return;
    if (queue === TX_QUEUE) {
      if (this.#txContinuation === undefined) this.#transmit();
    } else if (queue === RX_QUEUE && this.#rx !== undefined && !this.#tap.watching) {
      this.#watchTap();
      this.#receive();
    }
  }

  pause(): void {
    this.#running = false;
    this.#stopSources();
  }

  resume(): void {
    this.#running = true;
    if (this.#rx !== undefined) this.#watchTap();
  }

  quiesce(): void {
    this.pause();
    this.#rx = undefined;
    this.#tx = undefined;
  }

  #watchTap(): void {
    this.#tap.watch(() => this.#receive());
  }

  #stopSources(): void {
    this.#tap.unwatch();
    if (this.#txContinuation !== undefined) clearImmediate(this.#txContinuation);
    this.#txContinuation = undefined;
  }

  #receive(): void {
    const rx = this.#rx;
    if (!this.#running || rx === undefined || rx.failure !== undefined) return;
    let used = false;
    try {
      for (let frames = 0; frames < NET_FRAMES_PER_TURN; frames++) {
        const chain = rx.pop();
        if (chain === undefined) {
          // No buffers: stop reading so frames wait in the TAP's queue, not dropped here.
          this.#tap.unwatch();
          this.#counters?.add('rxWaitsForBuffers');
          break;
        }
        if (chain.writableBytes <= NET_HEADER_SIZE) {
          rx.pushUsed(chain.head, 0);
          used = true;
          continue;
        }
        const room = chain.writableBytes - NET_HEADER_SIZE;
        const length = this.#tap.read(take(chain.writable, NET_HEADER_SIZE, room));
        if (length === null) {
          rx.unpop(); // nothing waiting: the buffer stays the guest's, untouched
          break;
        }
        writeHeader(take(chain.writable, 0, NET_HEADER_SIZE));
        if (length > room) this.#counters?.add('rxTruncated');
        const delivered = Math.min(length, room);
        rx.pushUsed(chain.head, NET_HEADER_SIZE + delivered);
        this.#counters?.add('rxFrames');
        this.#counters?.add('rxBytes', delivered);
        used = true;
      }
    } catch (error) {
      this.#broken(error);
      return;
    }
    if (used) signalUsed(this.#context, rx);
  }

  #transmit(): void {
    this.#txContinuation = undefined;
    const tx = this.#tx;
    if (!this.#running || tx === undefined || tx.failure !== undefined) return;
    let sent = 0;
    try {
      for (let chain = tx.pop(); chain !== undefined; chain = sent < NET_FRAMES_PER_TURN ? tx.pop() : undefined) {
        if (chain.readableBytes > NET_HEADER_SIZE) {
          const frame = take(chain.readable, NET_HEADER_SIZE, chain.readableBytes - NET_HEADER_SIZE);
          const written = this.#tap.write(frame);
          if (written === null) {
            this.#counters?.add('txDropped');
          } else {
            this.#counters?.add('txFrames');
            this.#counters?.add('txBytes', written);
          }
        }
        tx.pushUsed(chain.head, 0);
        sent++;
      }
      if (sent > 0) signalUsed(this.#context, tx);
      if (sent >= NET_FRAMES_PER_TURN && tx.pending > 0) this.#txContinuation = setImmediate(() => this.#transmit());
    } catch (error) {
      this.#broken(error);
    }
  }

  #broken(error: unknown): void {
    this.#stopSources();
    this.error = deviceBroken(this.#context, error) ?? this.error;
  }
}

/** A zeroed virtio_net_hdr with num_buffers = 1, written across however many views it spans. */
function writeHeader(views: Uint8Array[]): void {
  let offset = 0;
  for (const view of views) {
    for (let i = 0; i < view.length; i++, offset++) view[i] = offset === NUM_BUFFERS_OFFSET ? 1 : 0;
  }
}
