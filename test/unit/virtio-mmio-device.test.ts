// VirtioMmioDevice, the main-thread half of a virtio-mmio device: what it asks the machine for, the
// eventfds it wires (an irqfd, an ioeventfd per queue, a status eventfd for the vCPU half), its back
// end (a factory run here, or a module on an I/O thread), and its lifecycle (start, pause, resume,
// quiesce, close, save and restore). The test plays the machine (the VM's wiring) and KVM (it signals
// the eventfds the device registered).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DeviceCounters } from '../../lib/devices/counters';
import { VirtioRngBackend } from '../../lib/devices/virtio/rng/backend';
import { rngDescription } from '../../lib/devices/virtio/rng/device';
import type { BackendContext, BackendFactory, BackendModuleSpec, VirtioBackend } from '../../lib/devices/virtio/transport/backend';
import { VirtioMmioDevice, type VirtioMmioDeviceOptions } from '../../lib/devices/virtio/transport/mmio-device';
import { DeviceStatus, InterruptBit, MmioReg, VIRTIO_MMIO_CONFIG } from '../../lib/devices/virtio/transport/mmio-registers';
import { ConfigError, DeviceError, nativeCall, VmmError } from '../../lib/kvm/errors';
import { drain } from '../helpers/event-loop';
import { until } from '../helpers/until';
import { native } from '../../lib/native/binding';
import type { IoEventFdOptions } from '../../lib/kvm/vm';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { MmioDriver } from '../helpers/mmio-driver';
import { placed } from '../helpers/devices';
import { makeSocketDir } from '../helpers/socket-dir';
import { TestDriver } from '../helpers/virtqueue-driver';

const BASE = 0xd000_1000;
const IRQ = 9;
const DESCRIPTION = { deviceId: 42, features: 0n, queueSizes: [8, 8], config: Uint8Array.of(1, 2, 3, 4) };

/** Records what the device's runner asks of it; notify throws when `failing` is set. */
class Recorder implements VirtioBackend {
  readonly log: string[] = [];
  failing: Error | undefined;
  constructor(readonly context: BackendContext) {}
  activate(): void {
    this.log.push('activate');
  }
  reset(): void {
    this.log.push('reset');
  }
  notify(queue: number): void {
    this.log.push(`notify ${queue}`);
    if (this.failing !== undefined) throw this.failing;
  }
  quiesce(): void {
    this.log.push('quiesce');
  }
  restoreState(state: unknown): void {
    this.log.push(`restore ${JSON.stringify(state)}`);
  }
  reconfigure(args: unknown): void {
    this.log.push(`reconfigure ${JSON.stringify(args)}`);
  }
}

/** Exposes the protected hooks a device subclass uses. */
class TestDevice extends VirtioMmioDevice {
  reconfigure(args: unknown): Promise<void> {
    return this.reconfigureBackend(args);
  }
  changeConfig(offset: number, bytes: Uint8Array): void {
    this.configChanged(offset, bytes);
  }
}

interface Wiring {
  irqfds: Array<[number, number]>;
  ioeventfds: Array<[number, IoEventFdOptions]>;
}

function attach(device: VirtioMmioDevice, memory: GuestMemory, failAt = -1): Wiring {
  const wiring: Wiring = { irqfds: [], ioeventfds: [] };
  device.attach({
    memory,
    vcpuCount: 1,
    vm: {
      irqfd: (fd, gsi) => wiring.irqfds.push([fd, gsi]),
      ioeventfd: (fd, options) => {
        if (wiring.ioeventfds.length === failAt) throw new VmmError('ioeventfd refused');
        wiring.ioeventfds.push([fd, options]);
      },
      irqLine: () => undefined,
    },
  });
  return wiring;
}

const isOpen = (fd: number): boolean => {
  try {
    fs.fstatSync(fd);
    return true;
  } catch {
    return false;
  }
};
const signal = (fd: number): void => nativeCall(() => native().eventfdWrite(fd, 1));
const take = (fd: number): number => Number(nativeCall(() => native().eventfdRead(fd)) ?? 0n);

function device(options: Partial<VirtioMmioDeviceOptions> = {}, factory: BackendFactory = (context) => new Recorder(context)): TestDevice {
  return new TestDevice({ base: BASE, irq: IRQ, device: DESCRIPTION, backend: factory, ...options });
}

describe('virtio-mmio device (main-thread half)', () => {
  let memory: GuestMemory;
  const cleanups: (() => unknown)[] = [];
  beforeEach(() => {
    memory = GuestMemory.allocate(ramLayout(1024 * 1024));
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    memory.dispose();
  });
  function started(d: TestDevice): TestDevice {
    cleanups.push(async () => {
      await d.quiesce();
      d.close();
    });
    return d;
  }

  it('refuses a back end that is neither a factory nor { module }, and a base off the 4 KiB grid', () => {
    const message = 'virtio device: backend must be a factory function or { module, export?, args? }';
    for (const backend of [42, null, undefined, 'module.js', {}, { module: 5 }, [() => undefined]]) {
      assert.throws(() => new VirtioMmioDevice({ device: DESCRIPTION, backend: backend as unknown as BackendFactory }), (e: unknown) => e instanceof ConfigError && e.message === message, String(backend));
    }
    assert.ok(new VirtioMmioDevice({ device: DESCRIPTION, backend: { module: '/nowhere.js' } }));
    assert.throws(() => device({ base: BASE + 0x800 }), (e: unknown) => e instanceof ConfigError && e.message === `virtio device: base 0x${(BASE + 0x800).toString(16)} is not a multiple of the 4096-byte window`);
    assert.throws(() => device({ base: 2 ** 60 }), ConfigError, 'a multiple of 4096 but beyond 2^53');
    assert.throws(() => device({ device: { ...DESCRIPTION, queueSizes: [] } }), ConfigError, 'the description is checked');
  });

  it('asks for a 4 KiB window and a line (fixed or from the pool); kind and id prefix default to virtio', () => {
    const plain = new VirtioMmioDevice({ device: DESCRIPTION, backend: (context) => new Recorder(context) });
    assert.equal(plain.kind, 'virtio');
    assert.equal(plain.idPrefix, 'virtio');
    assert.deepEqual(plain.needs, { mmioWindow: { size: 0x1000, base: undefined }, irq: { line: undefined } });
    assert.equal(plain.counters, undefined);
    const fixed = device({ kind: 'virtio-test', idPrefix: 'test', counters: ['a', 'b'] });
    assert.equal(fixed.kind, 'virtio-test');
    assert.equal(fixed.idPrefix, 'test');
    assert.deepEqual(fixed.needs, { mmioWindow: { size: 0x1000, base: BASE }, irq: { line: IRQ } });
    assert.ok(fixed.counters instanceof DeviceCounters);
    assert.deepEqual(fixed.counters.names, ['a', 'b']);
    const [first, second] = placed(plain, fixed);
    assert.equal(first.id, 'virtio0');
    assert.equal(second.id, 'test0');
    assert.equal(second.base, BASE);
    assert.equal(second.irq, IRQ);
  });

  it('describes itself to Linux: virtio_mmio.device=4K@base:irq, and an ACPI LNRO0005 device named by its window ordinal', () => {
    const [, d] = placed(device({ base: undefined, irq: undefined }), device());
    assert.equal(d.kernelCmdline(), `virtio_mmio.device=4K@0x${BASE.toString(16)}:${IRQ}`);
    const ascii = (text: string): number[] => [...Buffer.from(text, 'latin1')];
    const u32 = (value: number): number[] => [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24];
    const crs = [0x11, 0x1a, 0x0a, 0x17, 0x86, 0x09, 0x00, 0x01, ...u32(BASE), ...u32(0x1000), 0x89, 0x06, 0x00, 0x03, 0x01, ...u32(IRQ), 0x79, 0x00];
    const body = [
      ...ascii('V001'),
      ...[0x08, ...ascii('_HID'), 0x0d, ...ascii('LNRO0005'), 0x00],
      ...[0x08, ...ascii('_UID'), 0x01],
      ...[0x08, ...ascii('_CCA'), 0x01],
      ...[0x08, ...ascii('_CRS'), ...crs],
    ];
    // PkgLength of 63 body bytes takes two bytes: 0x40 | (65 & 0xf), 65 >> 4.
    assert.equal(body.length, 63);
    assert.deepEqual([...d.acpiNode()], [0x5b, 0x82, 0x41, 0x04, ...body]);
  });

  it('4.2.3.3: attach wires an irqfd for its line and, per queue, an ioeventfd for a 4-byte QueueNotify write of that queue index', () => {
    const [d] = placed(device());
    assert.throws(() => d.worker, (e: unknown) => e instanceof ConfigError && e.message === 'virtio device virtio0 is not attached to a machine');
    const wiring = attach(d, memory);
    cleanups.push(() => d.close());
    assert.deepEqual(wiring.irqfds.map(([, gsi]) => gsi), [IRQ]);
    assert.deepEqual(wiring.ioeventfds.map(([, options]) => options), [0, 1].map((queue) => ({ pio: false, address: BASE + MmioReg.QUEUE_NOTIFY, length: 4, datamatch: BigInt(queue) })));
    const worker = d.worker;
    assert.equal(path.basename(worker?.module ?? ''), 'mmio-module.js');
    assert.ok(fs.existsSync(worker?.module ?? ''), 'the vCPU-thread half is a module next to this one');
    const args = worker?.args as { state: unknown; base: number; statusFd: number };
    assert.equal(args.state, d.state);
    assert.equal(args.base, BASE);
    const fds = [wiring.irqfds[0]?.[0], args.statusFd, ...wiring.ioeventfds.map(([fd]) => fd)] as number[];
    assert.equal(new Set(fds).size, 4, 'four distinct eventfds');
    for (const fd of fds) {
      signal(fd);
      assert.equal(take(fd), 1, `fd ${fd} is an eventfd`);
    }
    assert.throws(() => attach(d, memory), (e: unknown) => e instanceof ConfigError && e.message === 'virtio device virtio0 is already attached to a machine');
    d.close();
    for (const fd of fds) assert.equal(isOpen(fd), false, `fd ${fd} closed`);
    d.close();
    assert.throws(() => d.worker, ConfigError, 'detached');
  });

  it('a wiring failure during attach closes the eventfds made so far and leaves the device unattached', () => {
    const unplaced = device();
    assert.throws(() => unplaced.worker, (e: unknown) => e instanceof ConfigError && e.message === 'virtio device virtio is not attached to a machine', 'named by its kind until placed');
    const [d] = placed(device());
    const seen: number[] = [];
    assert.throws(
      () =>
        d.attach({
          memory,
          vcpuCount: 1,
          vm: {
            irqfd: (fd) => seen.push(fd),
            ioeventfd: (fd) => {
              seen.push(fd);
              if (seen.length === 3) throw new VmmError('ioeventfd refused');
            },
            irqLine: () => undefined,
          },
        }),
      (e: unknown) => e instanceof VmmError && e.message === 'ioeventfd refused',
    );
    for (const fd of seen) assert.equal(isOpen(fd), false, `fd ${fd} closed`);
    assert.throws(() => d.worker, ConfigError);
    attach(d, memory);
    cleanups.push(() => d.close());
    assert.ok(d.worker);
  });

  it('a factory back end runs here: it gets the transport, memory and counters; start twice makes it once', async () => {
    const made: Recorder[] = [];
    const [d] = placed(device({ counters: ['n'] }, (context) => {
      const backend = new Recorder(context);
      made.push(backend);
      return backend;
    }));
    attach(d, memory);
    started(d);
    await d.start();
    await d.start();
    assert.equal(made.length, 1);
    const context = made[0]?.context;
    assert.equal(context?.transport, d.transport);
    assert.equal(context?.memory, memory);
    assert.equal(context?.counters, d.counters);
    let plainContext: BackendContext | undefined;
    const [plain] = placed(device({}, (c) => ((plainContext = c), new Recorder(c))));
    attach(plain, memory);
    started(plain);
    await plain.start();
    assert.equal('counters' in (plainContext as object), false, 'no counters: none in the context');
  });

  it('the whole path: DRIVER_OK on the status eventfd, a queue notification on its ioeventfd, the used ring and the irqfd', async () => {
    let rng: VirtioRngBackend | undefined;
    const d = new TestDevice({ base: BASE, irq: IRQ, device: rngDescription(), backend: (context) => (rng = new VirtioRngBackend(context)) });
    placed(d);
    const wiring = attach(d, memory);
    started(d);
    await d.start();
    const driver = new MmioDriver(d.transport);
    const queue = new TestDriver(memory, 0x10000, 8);
    queue.clearRings();
    driver.negotiate();
    driver.setupQueue(0, queue.config);
    driver.driverOk();
    signal((d.worker.args as { statusFd: number }).statusFd);
    queue.makeAvailable(queue.writeChain(0, [{ address: 0x40000, length: 40, writable: true }]));
    signal(wiring.ioeventfds[0]?.[0] as number);
    await until(() => queue.usedIndex() === 1);
    assert.deepEqual(queue.usedEntry(0), { id: 0, len: 40 });
    assert.equal(rng?.served, 40);
    assert.equal(driver.read(MmioReg.INTERRUPT_STATUS), InterruptBit.USED_BUFFER);
    assert.equal(take(wiring.irqfds[0]?.[0] as number), 1);
    // pause: a notification is left for later; resume catches up on it.
    await d.pause();
    queue.makeAvailable(queue.writeChain(1, [{ address: 0x40100, length: 8, writable: true }]));
    signal(wiring.ioeventfds[0]?.[0] as number);
    await drain();
    assert.equal(queue.usedIndex(), 1, 'paused');
    await d.resume();
    assert.equal(queue.usedIndex(), 2, 'resumed: served at once');
    assert.equal(d.error, undefined);
  });

  it('pause, resume, quiesce and saveState before start are no-ops; start after quiesce makes no back end', async () => {
    let made = 0;
    const [d] = placed(device({}, (context) => (made++, new Recorder(context))));
    await d.pause();
    await d.resume();
    const before = (await d.saveState()) as object;
    assert.deepEqual(Object.keys(before), ['transport'], 'no back end yet: the transport only');
    await assert.rejects(d.reconfigure({}), (e: unknown) => e instanceof DeviceError && e.message === 'virtio device virtio0: its back end is not running');
    attach(d, memory);
    cleanups.push(() => d.close());
    await d.quiesce();
    await d.start();
    assert.equal(made, 0);
    const unplaced = device();
    await assert.rejects(unplaced.reconfigure({}), (e: unknown) => e instanceof DeviceError && e.message === 'virtio device virtio: its back end is not running');
  });

  it('quiesce reaches the back end once; afterwards reconfigure is refused and signals reach nothing', async () => {
    let backend: Recorder | undefined;
    const [d] = placed(device({}, (context) => (backend = new Recorder(context))));
    const wiring = attach(d, memory);
    cleanups.push(() => d.close());
    await d.start();
    await d.reconfigure({ file: 'b.img' });
    assert.deepEqual(backend?.log, ['reconfigure {"file":"b.img"}']);
    await d.quiesce();
    await d.quiesce();
    assert.deepEqual(backend?.log, ['reconfigure {"file":"b.img"}', 'quiesce']);
    await assert.rejects(d.reconfigure({}), DeviceError);
    new MmioDriver(d.transport).negotiate();
    new MmioDriver(d.transport).driverOk();
    signal((d.worker.args as { statusFd: number }).statusFd);
    signal(wiring.ioeventfds[1]?.[0] as number);
    await drain();
    await d.resume();
    assert.deepEqual(backend?.log, ['reconfigure {"file":"b.img"}', 'quiesce'], 'nothing after quiesce');
  });

  it('a back end that throws while serving is a host-side failure: the device keeps the first as `error`', async () => {
    let backend: Recorder | undefined;
    const [d] = placed(device({}, (context) => (backend = new Recorder(context))));
    const wiring = attach(d, memory);
    started(d);
    await d.start();
    const driver = new MmioDriver(d.transport);
    driver.negotiate();
    driver.driverOk();
    signal((d.worker.args as { statusFd: number }).statusFd);
    await until(() => backend?.log.includes('activate') === true);
    const first = new Error('host socket gone');
    (backend as Recorder).failing = first;
    signal(wiring.ioeventfds[0]?.[0] as number);
    await until(() => d.error !== undefined);
    (backend as Recorder).failing = new Error('second');
    signal(wiring.ioeventfds[1]?.[0] as number);
    await until(() => backend?.log.includes('notify 1') === true);
    assert.equal(d.error, first);
  });

  it('4.2.2: a device-side config change updates the config space, moves ConfigGeneration and interrupts once while pending', () => {
    const [d] = placed(device());
    const driver = new MmioDriver(d.transport);
    const generation = driver.read(MmioReg.CONFIG_GENERATION);
    d.changeConfig(1, Uint8Array.of(0xaa));
    assert.equal(driver.read(MmioReg.INTERRUPT_STATUS), InterruptBit.CONFIG_CHANGE, 'not attached: the bit is set, nobody to signal');
    const wiring = attach(d, memory);
    cleanups.push(() => d.close());
    driver.write(MmioReg.INTERRUPT_ACK, InterruptBit.CONFIG_CHANGE);
    d.changeConfig(2, Uint8Array.of(0xbb, 0xcc));
    d.changeConfig(2, Uint8Array.of(0xbb, 0xcd));
    assert.equal(driver.read(MmioReg.CONFIG_GENERATION), generation + 3);
    assert.equal(driver.read(VIRTIO_MMIO_CONFIG), 0xcdbbaa01);
    assert.equal(take(wiring.irqfds[0]?.[0] as number), 1, 'the second change found the interrupt still pending');
  });

  it('saves the transport and the back end\'s state; restores them into a new device, the back end\'s before it starts', async () => {
    const saving = (context: BackendContext): VirtioBackend => Object.assign(new Recorder(context), { saveState: () => ({ table: [7] }) });
    const [a] = placed(device({}, saving));
    attach(a, memory);
    started(a);
    const driver = new MmioDriver(a.transport);
    driver.negotiate();
    driver.setupQueue(1, { size: 8, descTable: 0x1000, availRing: 0x2000, usedRing: 0x3000 });
    await a.start();
    const saved = (await a.saveState()) as { transport: unknown; backend: unknown };
    assert.deepEqual(saved.backend, { table: [7] });
    let restored: Recorder | undefined;
    const [b] = placed(device({}, (context) => (restored = new Recorder(context))));
    assert.throws(() => b.restoreState(5), (e: unknown) => e instanceof ConfigError && e.message === 'virtio device virtio0: saved state is not an object');
    assert.throws(() => b.restoreState(null), (e: unknown) => e instanceof ConfigError && e.message === 'virtio device virtio0: saved state is not an object');
    assert.throws(() => b.restoreState({}), (e: unknown) => e instanceof ConfigError && e.message === 'virtio device virtio0: saved state is not an object', 'no transport part');
    b.restoreState(saved);
    assert.equal(b.transport.status, a.transport.status);
    assert.deepEqual(b.transport.queueConfig(1), a.transport.queueConfig(1));
    attach(b, memory);
    started(b);
    await b.start();
    assert.deepEqual(restored?.log, ['restore {"table":[7]}']);
    const plainSave = (await b.saveState()) as object;
    assert.equal('backend' in plainSave, false, 'a back end without saveState adds nothing');
  });
});

describe('virtio-mmio device with a module back end (on an I/O thread)', function () {
  this.timeout(30_000);
  let memory: GuestMemory;
  let dir: string;
  const cleanups: (() => unknown)[] = [];
  beforeEach(() => {
    memory = GuestMemory.allocate(ramLayout(1024 * 1024));
    dir = makeSocketDir('virtio-module-');
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    memory.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A back-end module: notify throws once `args.failOn` queue is notified; saveState reports what it was given. */
  function module(): BackendModuleSpec {
    const file = path.join(dir, 'failing-backend.js');
    fs.writeFileSync(
      file,
      `exports.createBackend = (context, args) => ({
        log: [], activate() { this.log.push('activate'); }, reset() {},
        notify(queue) { if (queue === args.failOn) throw new Error('backend broke on queue ' + queue); this.log.push('notify ' + queue); },
        restoreState(state) { this.log.push('restore ' + JSON.stringify(state)); },
        saveState() { context.counters?.add('saves'); return { log: this.log, counters: context.counters !== undefined }; },
      });\n`,
    );
    return { module: file, args: { failOn: 1 } };
  }

  it('hosts the module with the shared state, guest memory, counters and eventfds; its failure becomes the device\'s error with the thread\'s stack', async () => {
    const d = new VirtioMmioDevice({ base: BASE, irq: IRQ, device: DESCRIPTION, backend: module(), counters: ['saves'] });
    placed(d);
    const wiring = attach(d, memory);
    cleanups.push(async () => {
      await d.quiesce();
      d.close();
    });
    await d.start();
    const driver = new MmioDriver(d.transport);
    driver.negotiate();
    driver.driverOk();
    assert.equal(driver.read(MmioReg.STATUS) & DeviceStatus.DRIVER_OK, DeviceStatus.DRIVER_OK);
    signal((d.worker.args as { statusFd: number }).statusFd);
    signal(wiring.ioeventfds[0]?.[0] as number);
    let state = (await d.saveState()) as { backend: { log: string[]; counters: boolean } };
    for (let i = 0; i < 2000 && state.backend.log.length < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      state = (await d.saveState()) as { backend: { log: string[]; counters: boolean } };
    }
    assert.deepEqual(state.backend, { log: ['activate', 'notify 0'], counters: true });
    assert.ok((d.counters?.get('saves') ?? 0) >= 1, 'the counters are shared with the I/O thread');
    signal(wiring.ioeventfds[1]?.[0] as number);
    await until(() => d.error !== undefined);
    assert.ok(d.error instanceof VmmError);
    assert.equal(d.error.message, 'backend broke on queue 1');
    assert.match(d.error.stack ?? '', /failing-backend\.js/, 'the stack is the I/O thread\'s');
  });

  it('a restored module back end gets its saved state before it starts; without counters it gets none', async () => {
    const d = new VirtioMmioDevice({ base: BASE, irq: IRQ, device: DESCRIPTION, backend: module() });
    placed(d);
    d.restoreState({ transport: { slots: new Uint8Array(d.state.slots.byteLength), config: new Uint8Array(d.state.config.byteLength) }, backend: { table: [1] } });
    attach(d, memory);
    cleanups.push(async () => {
      await d.quiesce();
      d.close();
    });
    await d.start();
    const state = (await d.saveState()) as { backend: { log: string[]; counters: boolean } };
    assert.deepEqual(state.backend, { log: ['restore {"table":[1]}'], counters: false });
  });
});
