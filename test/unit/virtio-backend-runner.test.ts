// The thread-side halves of a virtio device, run here on the main thread with real eventfds: the
// BackendRunner (notify and status eventfds -> activate / notify / reset of the back end; pause,
// resume, quiesce), the eventfd watch under it, and the hosting glue (startRunner, runnerHalf,
// loadBackendFactory, hostVirtioBackend) an I/O thread runs.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DeviceCounters } from '../../lib/devices/counters';
import { RNG_COUNTERS } from '../../lib/devices/virtio/rng/backend';
import { rngDescription } from '../../lib/devices/virtio/rng/device';
import type { BackendContext, VirtioBackend } from '../../lib/devices/virtio/transport/backend';
import { DEFAULT_BACKEND_EXPORT, hostVirtioBackend, loadBackendFactory, runnerHalf, startRunner } from '../../lib/devices/virtio/transport/backend-host';
import { BackendRunner, type BackendFds } from '../../lib/devices/virtio/transport/backend-runner';
import { EventFdWatch, signalEventFd } from '../../lib/devices/virtio/transport/fd-watch';
import { DeviceStatus, InterruptBit, MmioReg } from '../../lib/devices/virtio/transport/mmio-registers';
import { createVirtioMmioState } from '../../lib/devices/virtio/transport/mmio-state';
import { VirtioMmioTransport } from '../../lib/devices/virtio/transport/mmio-transport';
import { EventFd } from '../../lib/kvm/eventfd';
import { drain } from '../helpers/event-loop';
import { until } from '../helpers/until';
import { ConfigError, DeviceError, KvmIoctlError, VmmError } from '../../lib/kvm/errors';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { MmioDriver } from '../helpers/mmio-driver';
import { makeSocketDir } from '../helpers/socket-dir';
import { TestDriver } from '../helpers/virtqueue-driver';

const QUEUES = 2;
const RNG_MODULE = path.resolve(__dirname, '../../lib/devices/virtio/rng/backend.js');

/** Records what the runner asks of it, in order. */
class Recorder implements VirtioBackend {
  readonly log: string[] = [];
  readonly context: BackendContext;
  saved: unknown = { connections: 3 };
  constructor(context: BackendContext) {
    this.context = context;
  }
  activate(): void {
    this.log.push('activate');
  }
  reset(): void {
    this.log.push('reset');
  }
  notify(queue: number): void {
    this.log.push(`notify ${queue}`);
  }
  pause(): void {
    this.log.push('pause');
  }
  resume(): void {
    this.log.push('resume');
  }
  quiesce(): void {
    this.log.push('quiesce');
  }
  saveState(): unknown {
    return this.saved;
  }
  restoreState(state: unknown): void {
    this.log.push(`restore ${JSON.stringify(state)}`);
  }
  reconfigure(args: unknown): void {
    this.log.push(`reconfigure ${JSON.stringify(args)}`);
  }
}

interface Rig {
  transport: VirtioMmioTransport;
  driver: MmioDriver;
  irq: EventFd;
  status: EventFd;
  notify: EventFd[];
  fds: BackendFds;
  errors: Error[];
  close(): void;
}

function rig(): Rig {
  const transport = new VirtioMmioTransport(createVirtioMmioState({ deviceId: 4, features: 0n, queueSizes: new Array<number>(QUEUES).fill(8) }));
  const irq = new EventFd();
  const status = new EventFd();
  const notify = Array.from({ length: QUEUES }, () => new EventFd());
  return {
    transport,
    driver: new MmioDriver(transport),
    irq,
    status,
    notify,
    fds: { irq: irq.fd, status: status.fd, notify: notify.map((fd) => fd.fd) },
    errors: [],
    close: () => {
      for (const fd of [irq, status, ...notify]) fd.close();
    },
  };
}

/** Negotiates and sets DRIVER_OK (queues need not be set up: the recorder takes none). */
function goLive(r: Rig): void {
  r.driver.negotiate();
  r.driver.driverOk();
}

describe('virtio back-end runner (status and notify eventfds)', () => {
  let memory: GuestMemory;
  let r: Rig;
  const runners: BackendRunner[] = [];
  beforeEach(() => {
    memory = GuestMemory.allocate(ramLayout(1024 * 1024));
    r = rig();
  });
  afterEach(async () => {
    for (const runner of runners.splice(0)) await runner.quiesce();
    r.close();
    memory.dispose();
  });

  function run(): { runner: BackendRunner; backend: Recorder } {
    const runner = new BackendRunner((context) => new Recorder(context), { transport: r.transport, memory }, r.fds, (error) => r.errors.push(error));
    runners.push(runner);
    return { runner, backend: runner.backend as Recorder };
  }

  it('the back end gets the transport, memory and a signal that writes the irqfd', () => {
    const { backend } = run();
    assert.equal(backend.context.transport, r.transport);
    assert.equal(backend.context.memory, memory);
    assert.equal(backend.context.counters, undefined);
    backend.context.signal();
    backend.context.signal();
    assert.equal(r.irq.take(), 2);
  });

  it('3.1.1: DRIVER_OK seen on a status signal activates the back end once; queue notifications then reach it with their queue', async () => {
    const { runner, backend } = run();
    runner.start();
    assert.deepEqual(backend.log, [], 'not live: nothing at start');
    r.notify[1]?.signal();
    await drain();
    assert.deepEqual(backend.log, [], 'a notification before DRIVER_OK reaches nothing');
    goLive(r);
    r.status.signal();
    await until(() => backend.log.length === 1);
    assert.deepEqual(backend.log, ['activate']);
    r.notify[1]?.signal();
    await until(() => backend.log.length === 2);
    r.notify[0]?.signal();
    await until(() => backend.log.length === 3);
    r.status.signal();
    await drain();
    assert.deepEqual(backend.log, ['activate', 'notify 1', 'notify 0'], 'a second status signal activates nothing again');
    assert.deepEqual(r.errors, []);
  });

  it('2.1.2: a reset seen on a status signal resets the back end; the next DRIVER_OK activates it again', async () => {
    const { runner, backend } = run();
    runner.start();
    goLive(r);
    r.status.signal();
    await until(() => backend.log.length === 1);
    r.driver.write(MmioReg.STATUS, 0);
    r.status.signal();
    await until(() => backend.log.length === 2);
    r.notify[0]?.signal();
    await drain();
    assert.deepEqual(backend.log, ['activate', 'reset']);
    goLive(r);
    r.notify[0]?.signal(); // the notification arrives before the status signal: the runner reads the status itself
    await until(() => backend.log.length === 4);
    assert.deepEqual(backend.log, ['activate', 'reset', 'activate', 'notify 0']);
  });

  it('4.2.3.3: notifications that reached the register are taken on a status signal, for the queues recorded only', async () => {
    const { runner, backend } = run();
    runner.start();
    goLive(r);
    r.transport.recordNotify(1);
    r.transport.recordNotify(QUEUES); // no such queue
    r.status.signal();
    await until(() => backend.log.length === 2);
    await drain();
    assert.deepEqual(backend.log, ['activate', 'notify 1']);
    assert.equal(r.transport.takePendingNotifies(), 0, 'taken');
    r.transport.recordNotify(0);
    r.transport.recordNotify(1);
    r.status.signal();
    await until(() => backend.log.length === 4);
    assert.deepEqual(backend.log.slice(2), ['notify 0', 'notify 1']);
  });

  it('start on a live device catches up: activates, then notifies every queue; a second start does nothing', () => {
    goLive(r);
    const { runner, backend } = run();
    runner.start();
    runner.start();
    assert.deepEqual(backend.log, ['activate', 'notify 0', 'notify 1']);
  });

  it('pause stops the watches and pauses a live back end once; start resumes it and catches up on every queue', async () => {
    const { runner, backend } = run();
    runner.pause();
    runner.start();
    runner.pause();
    assert.deepEqual(backend.log, [], 'not live: the back end is not told to pause');
    runner.start();
    goLive(r);
    r.status.signal();
    await until(() => backend.log.length === 1);
    runner.pause();
    runner.pause();
    r.notify[0]?.signal();
    r.status.signal();
    await drain();
    assert.deepEqual(backend.log, ['activate', 'pause'], 'paused: signals are not acted on');
    runner.start();
    assert.deepEqual(backend.log, ['activate', 'pause', 'resume', 'notify 0', 'notify 1']);
    r.notify[1]?.signal();
    await until(() => backend.log.slice(5).includes('notify 1'));
    assert.deepEqual(backend.log.slice(5).sort(), ['notify 0', 'notify 1'], 'watching again (queue 0 still had its signal from the pause)');
  });

  it('quiesce pauses, quiesces the back end once and waits for it; nothing after it reaches the back end', async () => {
    const { runner, backend } = run();
    let finish: () => void = () => undefined;
    backend.quiesce = () => {
      backend.log.push('quiesce');
      return new Promise<void>((resolve) => (finish = resolve)) as unknown as void;
    };
    runner.start();
    goLive(r);
    r.status.signal();
    await until(() => backend.log.length === 1);
    let done = false;
    const quiesced = runner.quiesce().then(() => (done = true));
    assert.deepEqual(backend.log, ['activate', 'pause', 'quiesce']);
    await drain();
    assert.equal(done, false, 'waits for the back end to finish what is in flight');
    finish();
    await quiesced;
    await runner.quiesce();
    runner.start();
    r.notify[0]?.signal();
    r.status.signal();
    await drain();
    assert.deepEqual(backend.log, ['activate', 'pause', 'quiesce'], 'quiesced once; start afterwards does nothing');
  });
});

describe('virtio eventfd watch', () => {
  const fds: EventFd[] = [];
  const watches: EventFdWatch[] = [];
  afterEach(() => {
    for (const watch of watches.splice(0)) watch.stop();
    for (const fd of fds.splice(0)) fd.close();
  });
  function eventFd(): EventFd {
    const fd = new EventFd();
    fds.push(fd);
    return fd;
  }
  function watch(fd: number): EventFdWatch {
    const w = new EventFdWatch(fd);
    watches.push(w);
    return w;
  }

  it('calls back once per batch of signals, after taking the counter; signalEventFd adds 1', async () => {
    const fd = eventFd();
    const w = watch(fd.fd);
    assert.equal(w.fd, fd.fd);
    let calls = 0;
    w.start(() => {
      calls++;
      assert.equal(fd.take(), 0, 'the counter was taken before the call');
    }, (error) => assert.fail(error));
    signalEventFd(fd.fd);
    signalEventFd(fd.fd);
    await until(() => calls === 1);
    await drain();
    assert.equal(calls, 1);
    signalEventFd(fd.fd);
    await until(() => calls === 2);
  });

  it('start again replaces the watch (one call per signal); stop ends it', async () => {
    const fd = eventFd();
    const w = watch(fd.fd);
    const calls: string[] = [];
    w.start(() => calls.push('first'), (error) => assert.fail(error));
    w.start(() => calls.push('second'), (error) => assert.fail(error));
    fd.signal();
    await until(() => calls.length > 0);
    await drain();
    assert.deepEqual(calls, ['second']);
    w.stop();
    w.stop();
    fd.signal();
    await drain();
    assert.deepEqual(calls, ['second']);
    assert.equal(fd.take(), 1, 'nobody read it');
  });

  it('what the callback throws reaches onError, a non-Error as a DeviceError', async () => {
    const fd = eventFd();
    const errors: Error[] = [];
    const thrown = [new RangeError('backend bug'), 'text'];
    watch(fd.fd).start(() => {
      throw thrown.shift();
    }, (error) => errors.push(error));
    fd.signal();
    await until(() => errors.length === 1);
    fd.signal();
    await until(() => errors.length === 2);
    assert.ok(errors[0] instanceof RangeError);
    assert.ok(errors[1] instanceof DeviceError);
    assert.equal(errors[1].message, 'text');
  });

  it('a descriptor that cannot be polled fails at start with the system call\'s error', () => {
    const dir = makeSocketDir('fd-watch-');
    try {
      const file = path.join(dir, 'regular');
      fs.writeFileSync(file, 'x');
      const fd = fs.openSync(file, 'r');
      try {
        assert.throws(() => watch(fd).start(() => undefined, () => undefined), (e: unknown) => e instanceof KvmIoctlError && e.code === 'EPERM');
      } finally {
        fs.closeSync(fd);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a read that is not an eventfd\'s 8 bytes, and a poll error, reach onError as typed errors', async () => {
    const dir = makeSocketDir('fd-watch-');
    const opened: number[] = [];
    try {
      const fifo = path.join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      opened.push(reader);
      const writer = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      opened.push(writer);
      const errors: Error[] = [];
      let calls = 0;
      watch(reader).start(() => calls++, (error) => errors.push(error));
      fs.writeSync(writer, Buffer.from('abc'));
      await until(() => errors.length > 0);
      watches.pop()?.stop();
      assert.equal(calls, 0);
      assert.ok(errors[0] instanceof KvmIoctlError, `short read: ${String(errors[0])}`);
      assert.equal(errors[0].code, 'EIO');
      // The write end of a FIFO with no reader polls as an error (EPOLLERR): libuv reports a negative status.
      fs.closeSync(opened.shift() as number);
      const pollErrors: Error[] = [];
      watch(writer).start(() => calls++, (error) => pollErrors.push(error));
      await until(() => pollErrors.length > 0);
      assert.equal(calls, 0);
      assert.ok(pollErrors[0] instanceof DeviceError);
      assert.match(pollErrors[0].message, new RegExp(`^polling eventfd ${writer} failed \\(libuv status -\\d+\\)$`));
    } finally {
      for (const fd of opened) fs.closeSync(fd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('signalEventFd on a closed descriptor throws a typed error', () => {
    const fd = new EventFd();
    const number = fd.fd;
    fd.close();
    assert.throws(() => signalEventFd(number), (e: unknown) => e instanceof VmmError);
  });
});

describe('virtio back-end hosting (startRunner, runnerHalf, loadBackendFactory, hostVirtioBackend)', () => {
  let memory: GuestMemory;
  let r: Rig;
  beforeEach(() => {
    memory = GuestMemory.allocate(ramLayout(1024 * 1024));
    r = rig();
  });
  afterEach(() => {
    r.close();
    memory.dispose();
  });

  it('startRunner puts a saved state back, waits for ready(), then starts serving', async () => {
    goLive(r);
    const order: string[] = [];
    let backend: Recorder | undefined;
    const runner = await startRunner(
      (context) => {
        backend = new Recorder(context);
        const ready = async (): Promise<void> => {
          await new Promise((resolve) => setImmediate(resolve));
          order.push('ready');
        };
        return Object.assign(backend, { ready });
      },
      { transport: r.transport, memory },
      r.fds,
      (error) => r.errors.push(error),
      { saved: 1 },
    );
    assert.equal(runner.backend, backend);
    assert.deepEqual(backend?.log.slice(0, 1), ['restore {"saved":1}']);
    assert.deepEqual(order, ['ready']);
    assert.deepEqual(backend?.log.slice(1), ['activate', 'notify 0', 'notify 1'], 'started after ready');
    await runner.quiesce();
  });

  it('startRunner without a saved state restores nothing; when ready() fails it quiesces the back end and rethrows', async () => {
    const plain = await startRunner((context) => new Recorder(context), { transport: r.transport, memory }, r.fds, () => undefined, undefined);
    assert.deepEqual((plain.backend as Recorder).log, []);
    await plain.quiesce();
    let failing: Recorder | undefined;
    const failure = new Error('socket in use');
    await assert.rejects(
      startRunner(
        (context) => {
          failing = Object.assign(new Recorder(context), { ready: () => Promise.reject(failure) });
          return failing;
        },
        { transport: r.transport, memory },
        r.fds,
        () => undefined,
        undefined,
      ),
      (e: unknown) => e === failure,
    );
    assert.deepEqual(failing?.log, ['quiesce']);
    goLive(r);
    r.status.signal();
    r.notify[0]?.signal();
    await drain();
    assert.deepEqual(failing?.log, ['quiesce'], 'never started');
  });

  it('runnerHalf maps the hosted calls onto the runner and its back end', async () => {
    goLive(r);
    const runner = await startRunner((context) => new Recorder(context), { transport: r.transport, memory }, r.fds, () => undefined, undefined);
    const backend = runner.backend as Recorder;
    const half = runnerHalf(runner);
    await half.pause?.();
    await half.resume?.();
    assert.deepEqual(backend.log, ['activate', 'notify 0', 'notify 1', 'pause', 'resume', 'notify 0', 'notify 1']);
    assert.deepEqual(half.saveState?.(), { connections: 3 });
    await half.reconfigure?.({ path: '/disk' });
    assert.equal(backend.log.at(-1), 'reconfigure {"path":"/disk"}');
    await half.quiesce?.();
    assert.deepEqual(backend.log.slice(-2), ['pause', 'quiesce']);
    const bare = await startRunner((): VirtioBackend => ({ activate: () => undefined, reset: () => undefined, notify: () => undefined }), { transport: r.transport, memory }, r.fds, () => undefined, undefined);
    const bareHalf = runnerHalf(bare);
    assert.equal(bareHalf.saveState?.(), undefined, 'no saveState: nothing');
    assert.equal(bareHalf.reconfigure?.(1), undefined);
    await bareHalf.quiesce?.();
  });

  it('loadBackendFactory calls the module\'s export (createBackend by default) with the context and the spec\'s args', () => {
    assert.equal(DEFAULT_BACKEND_EXPORT, 'createBackend');
    const context: BackendContext = { transport: r.transport, memory, signal: () => undefined };
    const fills: number[] = [];
    const make = loadBackendFactory({ module: RNG_MODULE, args: { fill: (buffer: Uint8Array) => fills.push(buffer.length) } });
    const backend = make(context);
    assert.equal((backend as unknown as { context: BackendContext }).context, context);
    assert.throws(() => loadBackendFactory({ module: RNG_MODULE, export: 'nothing' }), (e: unknown) => e instanceof ConfigError && e.message === `back-end module ${RNG_MODULE} has no function export 'nothing'`);
    assert.throws(() => loadBackendFactory({ module: RNG_MODULE, export: 'RNG_BYTES_PER_TURN' }), (e: unknown) => e instanceof ConfigError && /no function export 'RNG_BYTES_PER_TURN'/.test(e.message));
    // The args reach the export: the rng back end fills with the given source.
    const queue = new TestDriver(memory, 0x10000, 8);
    queue.clearRings();
    r.driver.negotiate();
    r.driver.setupQueue(0, queue.config);
    r.driver.driverOk();
    backend.activate();
    queue.makeAvailable(queue.writeChain(0, [{ address: 0x40000, length: 32, writable: true }]));
    backend.notify(0);
    assert.deepEqual(fills, [32]);
  });

  it('hostVirtioBackend runs a module\'s back end over the shared state, guest memory and counters it is handed', async () => {
    const state = createVirtioMmioState(rngDescription());
    const driver = new MmioDriver(new VirtioMmioTransport(state));
    const counters = new DeviceCounters(RNG_COUNTERS);
    const reported: unknown[] = [];
    const half = await hostVirtioBackend({ reportError: (error) => reported.push(error) }, { backend: { module: RNG_MODULE }, state, memory: memory.descriptors(), fds: r.fds, counters: counters.shared });
    try {
      const queue = new TestDriver(memory, 0x10000, 8);
      queue.clearRings();
      driver.negotiate();
      driver.setupQueue(0, queue.config);
      driver.driverOk();
      r.status.signal();
      queue.makeAvailable(queue.writeChain(0, [{ address: 0x40000, length: 48, writable: true }]));
      r.notify[0]?.signal();
      await until(() => queue.usedIndex() === 1);
      assert.deepEqual(queue.usedEntry(0), { id: 0, len: 48 });
      assert.equal(counters.get('bytes'), 48);
      assert.equal(counters.get('requests'), 1);
      assert.equal(driver.read(MmioReg.INTERRUPT_STATUS), InterruptBit.USED_BUFFER);
      await until(() => r.irq.take() === 1);
      assert.equal(driver.read(MmioReg.STATUS) & DeviceStatus.DEVICE_NEEDS_RESET, 0);
      assert.deepEqual(reported, []);
    } finally {
      await half.quiesce?.();
    }
  });

  it('hostVirtioBackend without counters, with a saved state: the back end gets no counters and the state before it starts', async () => {
    const state = createVirtioMmioState(rngDescription());
    const dir = makeSocketDir('backend-module-');
    try {
      const module = path.join(dir, 'recorder.js');
      fs.writeFileSync(
        module,
        `exports.make = (context, args) => ({ log: [], args, counters: 'counters' in context, activate() {}, reset() {}, notify() {},
          restoreState(s) { this.log.push('restore ' + JSON.stringify(s)); }, ready() { this.log.push('ready'); return Promise.resolve(); },
          saveState() { return { log: this.log, args: this.args, counters: this.counters }; } });\n`,
      );
      const half = await hostVirtioBackend({ reportError: () => undefined }, { backend: { module, export: 'make', args: { n: 7 } }, state, memory: memory.descriptors(), fds: r.fds, restore: { table: [1] } });
      assert.deepEqual(half.saveState?.(), { log: ['restore {"table":[1]}', 'ready'], args: { n: 7 }, counters: false });
      await half.quiesce?.();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
