// QueueTurnBackend (bounded turns on one queue) and the helpers every back end shares
// (backend-support.ts), driven through a real transport and split rings in real guest memory.
import { strict as assert } from 'node:assert';
import type { BackendContext } from '../../lib/devices/virtio/transport/backend';
import { deviceBroken, openQueues, signalUsed } from '../../lib/devices/virtio/transport/backend-support';
import { VirtqueueError } from '../../lib/devices/virtio/transport/errors';
import { DeviceStatus, InterruptBit, MmioReg } from '../../lib/devices/virtio/transport/mmio-registers';
import { createVirtioMmioState } from '../../lib/devices/virtio/transport/mmio-state';
import { VirtioMmioTransport } from '../../lib/devices/virtio/transport/mmio-transport';
import { QueueTurnBackend } from '../../lib/devices/virtio/transport/queue-turns';
import type { SplitVirtqueue } from '../../lib/devices/virtio/transport/split-virtqueue';
import { AVAIL_F_NO_INTERRUPT, Avail } from '../../lib/devices/virtio/transport/split-ring-layout';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { MmioDriver } from '../helpers/mmio-driver';
import { TestDriver } from '../helpers/virtqueue-driver';

const QUEUE_SIZE = 16;
const BUFFERS = 0x40000;

/** Serves up to `budget` chains a turn (each used with length = its head), or throws what `failWith` holds. */
class CountedTurns extends QueueTurnBackend {
  readonly turns: number[] = [];
  budget = 2;
  /** Reports the budget as unspent even when chains remain (a back end waiting on its host). */
  stopShort = false;
  failWith: unknown;
  /** serveTurn calls, including those that threw. */
  calls = 0;

  protected serveTurn(queue: SplitVirtqueue): { served: number; budgetSpent: boolean } {
    this.calls++;
    if (this.failWith !== undefined) throw this.failWith;
    let served = 0;
    while (served < this.budget) {
      const chain = queue.pop();
      if (chain === undefined) break;
      queue.pushUsed(chain.head, chain.head);
      served++;
    }
    this.turns.push(served);
    return { served, budgetSpent: !this.stopShort && served === this.budget };
  }
}

interface Rig {
  memory: GuestMemory;
  transport: VirtioMmioTransport;
  driver: MmioDriver;
  queue: TestDriver;
  context: BackendContext;
  signals: () => number;
}

function rig(memory: GuestMemory, live = true): Rig {
  const transport = new VirtioMmioTransport(createVirtioMmioState({ deviceId: 4, features: 0n, queueSizes: [QUEUE_SIZE, QUEUE_SIZE] }));
  const driver = new MmioDriver(transport);
  const queue = new TestDriver(memory, 0x10000, QUEUE_SIZE);
  queue.clearRings();
  driver.negotiate();
  driver.setupQueue(0, queue.config);
  if (live) driver.driverOk();
  let signals = 0;
  const context: BackendContext = { transport, memory, signal: () => signals++ };
  return { memory, transport, driver, queue, context, signals: () => signals };
}

function offer(r: Rig, count: number): void {
  for (let i = 0; i < count; i++) {
    const head = (r.queue.usedIndex() + i) % QUEUE_SIZE;
    r.queue.makeAvailable(r.queue.writeChain(head, [{ address: BUFFERS + head * 64, length: 64, writable: true }]));
  }
}

/** A live rig with an activated CountedTurns back end of `budget` chains a turn and `offered` chains made available. */
function activeTurns(memory: GuestMemory, options: { budget?: number; offered?: number } = {}): { r: Rig; backend: CountedTurns } {
  const r = rig(memory);
  const backend = new CountedTurns(r.context);
  if (options.budget !== undefined) backend.budget = options.budget;
  backend.activate();
  if (options.offered !== undefined) offer(r, options.offered);
  return { r, backend };
}

const turnOfLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const needsReset = (r: Rig): boolean => (r.driver.read(MmioReg.STATUS) & DeviceStatus.DEVICE_NEEDS_RESET) !== 0;

describe('virtio queue turns (QueueTurnBackend)', () => {
  let memory: GuestMemory;
  beforeEach(() => {
    memory = GuestMemory.allocate(ramLayout(1024 * 1024));
  });
  afterEach(() => memory.dispose());

  it('a notification serves one turn now and the rest in later turns of the event loop; idle() waits for them', async () => {
    const { r, backend } = activeTurns(memory, { offered: 5 });
    backend.notify(0);
    assert.deepEqual(backend.turns, [2], 'one turn of 2 before yielding');
    assert.equal(r.queue.usedIndex(), 2);
    await backend.idle();
    assert.deepEqual(backend.turns, [2, 2, 1]);
    assert.equal(r.queue.usedIndex(), 5);
    assert.deepEqual([0, 1, 2, 3, 4].map((slot) => r.queue.usedEntry(slot)), [0, 1, 2, 3, 4].map((head) => ({ id: head, len: head })));
    assert.equal(r.driver.read(MmioReg.INTERRUPT_STATUS), InterruptBit.USED_BUFFER);
    assert.equal(r.signals(), 1, 'the bit stayed pending (no ack): one interrupt');
  });

  it('a notification while a continuation is queued starts no extra turn (one turn per event-loop turn)', async () => {
    const { backend } = activeTurns(memory, { budget: 1, offered: 3 });
    backend.notify(0);
    backend.notify(0);
    backend.notify();
    assert.deepEqual(backend.turns, [1]);
    await backend.idle();
    assert.deepEqual(backend.turns, [1, 1, 1]);
  });

  it('a budget spent exactly on the last chain queues no continuation; a turn that stops short is not continued', async () => {
    const { r, backend } = activeTurns(memory, { offered: 2 });
    backend.notify(0);
    await turnOfLoop();
    await turnOfLoop();
    assert.deepEqual(backend.turns, [2], 'nothing left: no empty follow-up turn');
    backend.stopShort = true;
    offer(r, 3);
    backend.notify(0);
    await turnOfLoop();
    await turnOfLoop();
    assert.deepEqual(backend.turns, [2, 2], 'stopped short with a chain waiting: it waits for the next notification');
    backend.notify(0);
    assert.deepEqual(backend.turns, [2, 2, 1]);
  });

  it('an empty turn raises no interrupt; one that used buffers raises USED_BUFFER and signals', () => {
    const { r, backend } = activeTurns(memory);
    backend.notify(0);
    assert.deepEqual(backend.turns, [0]);
    assert.equal(r.driver.read(MmioReg.INTERRUPT_STATUS), 0);
    assert.equal(r.signals(), 0);
    offer(r, 1);
    backend.notify(0);
    assert.equal(r.driver.read(MmioReg.INTERRUPT_STATUS), InterruptBit.USED_BUFFER);
    assert.equal(r.signals(), 1);
  });

  it('pause cancels the queued continuation and stops turns; resume lets the next notification serve again', async () => {
    const { r, backend } = activeTurns(memory, { budget: 1, offered: 3 });
    backend.notify(0);
    backend.pause();
    await backend.idle(); // resolves at once: nothing is queued
    await turnOfLoop();
    assert.deepEqual(backend.turns, [1]);
    backend.notify(0);
    assert.deepEqual(backend.turns, [1], 'paused: a notification serves nothing');
    backend.resume();
    backend.notify(0);
    await backend.idle();
    assert.deepEqual(backend.turns, [1, 1, 1]);
    assert.equal(r.queue.usedIndex(), 3);
  });

  it('pause then resume at once still cancels the queued continuation: work goes on only at the next notification', async () => {
    const { backend } = activeTurns(memory, { budget: 1, offered: 3 });
    backend.notify(0);
    backend.pause();
    backend.resume();
    await turnOfLoop();
    await turnOfLoop();
    assert.deepEqual(backend.turns, [1]);
    backend.notify(0);
    await backend.idle();
    assert.deepEqual(backend.turns, [1, 1, 1]);
  });

  it('2.1.2: reset drops the queue and its queued continuation; activate after a new DRIVER_OK takes it again', async () => {
    const { r, backend } = activeTurns(memory, { budget: 1, offered: 3 });
    backend.notify(0);
    backend.reset();
    await turnOfLoop();
    await turnOfLoop();
    backend.notify(0);
    assert.deepEqual(backend.turns, [1], 'no queue after reset');
    r.driver.negotiate();
    r.queue.clearRings();
    r.driver.setupQueue(0, r.queue.config);
    r.driver.driverOk();
    backend.activate();
    offer(r, 1);
    backend.notify(0);
    assert.deepEqual(backend.turns, [1, 1]);
  });

  it('quiesce drops the queue for good: neither resume nor a notification serves afterwards', async () => {
    const { r, backend } = activeTurns(memory, { budget: 1, offered: 2 });
    backend.notify(0);
    backend.quiesce();
    backend.resume();
    backend.notify(0);
    await turnOfLoop();
    assert.deepEqual(backend.turns, [1]);
    assert.equal(r.queue.usedIndex(), 1);
  });

  it('2.1.2: activate before DRIVER_OK takes no queue and marks nothing', () => {
    const r = rig(memory, false);
    const backend = new CountedTurns(r.context);
    backend.activate();
    offer(r, 1);
    backend.notify(0);
    assert.deepEqual(backend.turns, []);
    assert.equal(needsReset(r), false);
  });

  it('2.1.2: a guest error in a turn sets NEEDS_RESET with a config interrupt, is not a host error, and the failed queue is never served again', () => {
    const { r, backend } = activeTurns(memory);
    r.queue.makeAvailable(QUEUE_SIZE + 3); // a head beyond the queue
    backend.notify(0);
    assert.equal(needsReset(r), true);
    assert.equal(r.driver.read(MmioReg.INTERRUPT_STATUS), InterruptBit.CONFIG_CHANGE);
    assert.equal(r.signals(), 1);
    assert.equal(backend.error, undefined);
    offer(r, 1);
    backend.notify(0);
    assert.equal(backend.calls, 1, 'the failed queue takes no further turn');
  });

  it('a host-side failure in a turn is kept as `error` (a thrown non-Error becomes an Error); a later guest error keeps the first', () => {
    const { r, backend } = activeTurns(memory);
    const failure = new Error('disk went away');
    backend.failWith = failure;
    backend.notify(0);
    assert.equal(backend.error, failure);
    assert.equal(needsReset(r), true);
    backend.failWith = new VirtqueueError('BAD_HEAD_INDEX', 'later');
    backend.notify(0);
    assert.equal(backend.error, failure, 'the first host failure is kept');
    const other = new CountedTurns(rig(memory).context);
    other.activate();
    other.failWith = 'a string';
    other.notify(0);
    assert.ok(other.error instanceof Error);
    assert.equal(other.error.message, 'a string');
  });
});

describe('virtio back-end support (openQueues, signalUsed, deviceBroken)', () => {
  let memory: GuestMemory;
  beforeEach(() => {
    memory = GuestMemory.allocate(ramLayout(1024 * 1024));
  });
  afterEach(() => memory.dispose());

  it('2.1.2: before DRIVER_OK no queue is opened and the device is not marked', () => {
    const r = rig(memory, false);
    assert.equal(openQueues(r.context, [0]), undefined);
    assert.equal(needsReset(r), false);
    assert.equal(r.signals(), 0);
  });

  it('2.1.2: a queue not made ready before DRIVER_OK marks NEEDS_RESET with one config-change interrupt', () => {
    const r = rig(memory);
    assert.equal(openQueues(r.context, [0, 1]), undefined);
    assert.equal(needsReset(r), true);
    assert.equal(r.driver.read(MmioReg.INTERRUPT_STATUS), InterruptBit.CONFIG_CHANGE);
    assert.equal(r.signals(), 1);
  });

  it('opens the queues in the order asked, keeping their ring positions in the transport', () => {
    const r = rig(memory);
    const queues = openQueues(r.context, [0]);
    assert.equal(queues?.length, 1);
    const queue = queues?.[0] as SplitVirtqueue;
    offer(r, 1);
    const chain = queue.pop();
    queue.pushUsed(chain?.head ?? -1, 7);
    assert.deepEqual(r.queue.usedEntry(0), { id: 0, len: 7 });
    assert.equal(r.transport.queueIndices(0).nextAvail, 1);
    assert.equal(r.transport.queueIndices(0).nextUsed, 1);
  });

  it('2.7.7: signalUsed interrupts only for new used buffers, not under NO_INTERRUPT, and once while the bit is pending', () => {
    const r = rig(memory);
    const queue = (openQueues(r.context, [0]) as SplitVirtqueue[])[0] as SplitVirtqueue;
    signalUsed(r.context, queue);
    assert.equal(r.signals(), 0, 'nothing used yet');
    const use = (): void => {
      offer(r, 1);
      const chain = queue.pop();
      queue.pushUsed(chain?.head ?? -1, 0);
    };
    use();
    memory.writeU16(r.queue.config.availRing + Avail.FLAGS, AVAIL_F_NO_INTERRUPT);
    signalUsed(r.context, queue);
    assert.equal(r.signals(), 0, 'the driver asked for no interrupt');
    memory.writeU16(r.queue.config.availRing + Avail.FLAGS, 0);
    use();
    signalUsed(r.context, queue);
    assert.equal(r.signals(), 1);
    use();
    signalUsed(r.context, queue);
    assert.equal(r.signals(), 1, 'USED_BUFFER still pending: no second signal');
    r.driver.write(MmioReg.INTERRUPT_ACK, InterruptBit.USED_BUFFER);
    use();
    signalUsed(r.context, queue);
    assert.equal(r.signals(), 2);
  });

  it('2.1.2: deviceBroken marks NEEDS_RESET and interrupts once; a guest error returns nothing, a host error itself', () => {
    const r = rig(memory);
    assert.equal(deviceBroken(r.context, new VirtqueueError('CHAIN_TOO_LONG', 'loop')), undefined);
    assert.equal(needsReset(r), true);
    const host = new RangeError('host bug');
    assert.equal(deviceBroken(r.context, host), host);
    const wrapped = deviceBroken(r.context, 42);
    assert.ok(wrapped instanceof Error);
    assert.equal(wrapped.message, '42');
    assert.equal(r.signals(), 1, 'CONFIG_CHANGE was already pending after the first');
  });
});
