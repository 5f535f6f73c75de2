// The public API (createVm → VirtualMachine) booting the bundled guest: self-test, several VMs at
// once, AbortSignal, and async disposal releasing every fd.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { createVm } from '../../lib/api/create-vm';
import type { VirtualMachine } from '../../lib/api/virtual-machine';
import type { VmExit } from '../../lib/api/vm-exit';
import type { VcpuExitCounts } from '../../lib/runner/machine';
import { VirtioMmioDevice } from '../../lib/devices/virtio/transport/mmio-device';
import { VirtioRngBackend } from '../../lib/devices/virtio/rng/backend';
import { rngDescription } from '../../lib/devices/virtio/rng/device';
import { bundledGuestPath } from '../../lib/guest/bundled';
import { warmVcpuWorkers } from '../../lib/runner/worker-pool';
import { openFdCount, requireKvm, retryUnderEmulation } from '../helpers/kvm';

const READY = /node-vmm-guest: ready/;
const PROMPT = 'node-vmm> ';
const STALL_MS = 60_000;

interface Waiter {
  pattern: RegExp;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** Collects a VM's console output; until() resolves when it matches, failing (and stopping the VM) after a silent stall. */
class ConsoleLog {
  text = '';
  #waiters: Waiter[] = [];
  #exit: VmExit | undefined;

  constructor(readonly vm: VirtualMachine) {
    vm.console.on('data', (chunk: Buffer) => {
      this.text += chunk.toString('latin1');
      for (const waiter of [...this.#waiters]) {
        waiter.timer.refresh();
        if (waiter.pattern.test(this.text)) this.#settle(waiter);
      }
    });
    void vm.exited.then((exit) => {
      this.#exit = exit;
      setImmediate(() => {
        for (const waiter of [...this.#waiters]) this.#settle(waiter, new Error(`the VM ended (${exit.reason}) before printing ${waiter.pattern}; output:\n${this.text.slice(-400)}`));
      });
    });
  }

  until(pattern: RegExp): Promise<void> {
    if (pattern.test(this.text)) return Promise.resolve();
    if (this.#exit) return Promise.reject(new Error(`the VM already ended before printing ${pattern}`));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        pattern,
        resolve,
        reject,
        timer: setTimeout(() => {
          void this.vm.stop();
          this.#settle(waiter, new Error(`the console was silent for ${STALL_MS / 1000} s waiting for ${pattern}; output:\n${this.text.slice(-400)}`));
        }, STALL_MS),
      };
      this.#waiters.push(waiter);
    });
  }

  #settle(waiter: Waiter, error?: Error): void {
    clearTimeout(waiter.timer);
    this.#waiters = this.#waiters.filter((w) => w !== waiter);
    if (error) waiter.reject(error);
    else waiter.resolve();
  }
}

function escape(text: string): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
}

describe('createVm with the bundled guest', function () {
  before(function () {
    requireKvm(this);
    if (!fs.existsSync(bundledGuestPath())) throw new Error(`the bundled guest ${bundledGuestPath()} is not built yet (npm run build:guest)`);
  });

  it('runs the guest self-test to exit status 0, with start and exit events', async function () {
    retryUnderEmulation(this, 2);
    await using vm = await createVm({ cmdline: 'nodevmm.mode=selftest' });
    const log = new ConsoleLog(vm);
    const events: string[] = [];
    vm.on('start', () => events.push('start'));
    vm.on('exit', (exit) => events.push(`exit:${exit.reason}`));
    await vm.start();
    const exit = await vm.exited;
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(exit.reason, 'exited', `output:\n${log.text}`);
    assert.equal(exit.status, 0, `self-test failures; output:\n${log.text}`);
    assert.match(log.text, READY);
    assert.match(log.text, /^1\.\.\d+/m, 'a TAP plan');
    assert.doesNotMatch(log.text, /^not ok/m);
    assert.deepEqual(events, ['start', 'exit:exited']);
    assert.equal(exit.registers.length, 1);
  });

  it('passes virtio devices to the guest, whose self-test uses them', async function () {
    retryUnderEmulation(this, 2);
    const rng = new VirtioMmioDevice({ device: rngDescription(), backend: (context) => new VirtioRngBackend(context) });
    await using vm = await createVm({ cmdline: 'nodevmm.mode=selftest', virtio: [rng] });
    const log = new ConsoleLog(vm);
    await vm.start();
    const exit = await vm.exited;
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(exit.status, 0, `output:\n${log.text}`);
    assert.match(log.text, /^ok \d+ - virtio-rng: 32 random bytes, not constant/m);
  });

  it('runs two VMs at once that share nothing', async function () {
    retryUnderEmulation(this, 2);
    await using a = await createVm({ memoryMiB: 64 });
    await using b = await createVm({ memoryMiB: 96 });
    const logA = new ConsoleLog(a);
    const logB = new ConsoleLog(b);
    await Promise.all([a.start(), b.start()]);
    await Promise.all([logA.until(escape(PROMPT)), logB.until(escape(PROMPT))]);
    a.console.write('echo from-vm-a\n');
    b.console.write('echo from-vm-b\n');
    await Promise.all([logA.until(/from-vm-a\r?\n[^]*node-vmm> /), logB.until(/from-vm-b\r?\n[^]*node-vmm> /)]);
    a.console.write('exit 5\n');
    b.console.write('exit 6\n');
    const [exitA, exitB] = await Promise.all([a.exited, b.exited]);
    assert.equal(exitA.reason, 'exited');
    assert.equal(exitA.status, 5);
    assert.equal(exitB.reason, 'exited');
    assert.equal(exitB.status, 6);
    assert.doesNotMatch(logA.text, /from-vm-b/);
    assert.doesNotMatch(logB.text, /from-vm-a/);
  });

  it('sendCtrlAltDel(): the keys reach the guest through the i8042 and its IRQ 1, which reboots (the VM ends with reset)', async function () {
    retryUnderEmulation(this, 2);
    await using vm = await createVm({});
    const log = new ConsoleLog(vm);
    assert.throws(() => vm.sendCtrlAltDel(), (e: Error) => e.name === 'DeviceError', 'refused before start');
    await vm.start();
    await log.until(escape(PROMPT));
    vm.sendCtrlAltDel();
    const exit = await vm.exited;
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(exit.reason, 'reset', `output:\n${log.text}`);
    assert.match(log.text, /node-vmm-guest: ctrl-alt-del, rebooting/);
    assert.throws(() => vm.sendCtrlAltDel(), (e: Error) => e.name === 'DeviceError', 'refused once the VM ended');
  });

  it('metrics(): the UART counts the bytes each way, and the exits are counted by device', async function () {
    retryUnderEmulation(this, 2);
    await using vm = await createVm({ timeKvmRun: true });
    const log = new ConsoleLog(vm);
    await vm.start();
    await log.until(escape(PROMPT));
    const input = 'echo counted\n';
    vm.console.write(input);
    await log.until(/counted\r?\nnode-vmm> $/);
    const metrics = vm.metrics();
    const uart = metrics.devices.serial0;
    assert.equal(uart?.kind, 'serial');
    assert.equal(uart?.counters.txBytes, Buffer.byteLength(log.text, 'latin1'), 'every byte the guest sent reached the console');
    assert.equal(uart?.counters.rxBytes, input.length);
    const accesses = metrics.vcpus[0]?.byDevice ?? {};
    assert.ok((accesses.serial0 ?? 0) >= (uart?.counters.txBytes ?? 0), `a THR write per byte at least: ${JSON.stringify(accesses)}`);
    for (const id of Object.keys(accesses)) assert.ok(vm.device(id) !== undefined, `${id} is one of the VM's devices`);
    // The guest waits at its prompt halted inside KVM_RUN: time there grows while time outside stays put.
    const times = (): { inside: number; outside: number } => {
      const counts = vm.metrics().vcpus[0] as VcpuExitCounts;
      assert.ok(counts.inKvmRunNs !== undefined && counts.outOfKvmRunNs !== undefined, 'timed with timeKvmRun');
      return { inside: counts.inKvmRunNs, outside: counts.outOfKvmRunNs };
    };
    const before = times();
    assert.ok(before.inside > 0 && before.outside > 0, JSON.stringify(before));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = times();
    assert.ok(after.inside - before.inside >= 150e6, `in KVM_RUN: ${before.inside} -> ${after.inside} ns`);
    assert.ok(after.outside - before.outside < 100e6, `outside: ${before.outside} -> ${after.outside} ns`);
    await vm.pause();
    const paused = times();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(times(), paused, 'a parked vCPU adds no time, in KVM_RUN or outside');
    await using untimed = await createVm({});
    assert.equal(untimed.metrics().vcpus[0]?.inKvmRunNs, undefined, 'not timed unless asked');
  });

  it('stops a running VM when its AbortSignal is aborted', async function () {
    retryUnderEmulation(this, 2);
    const controller = new AbortController();
    await using vm = await createVm({ signal: controller.signal });
    const log = new ConsoleLog(vm);
    await vm.start();
    await log.until(READY);
    controller.abort();
    const exit = await vm.exited;
    assert.equal(exit.reason, 'stopped');
    // start() after an abort rejects with the typed AbortError.
    await assert.rejects(vm.start(), (error: unknown) => error instanceof Error && error.name === 'AbortError');
  });

  it('releases every fd on async disposal, and disposal is idempotent', async function () {
    retryUnderEmulation(this, 2);
    // Warm up once so lazily opened process-wide fds (the addon, worker plumbing) are counted before.
    {
      await using warm = await createVm({ cmdline: 'nodevmm.mode=selftest' });
      await warm.start();
      await warm.exited;
    }
    // Idle pooled workers hold fds of their own (the pool refills after a VM has started): count with a whole pool.
    await warmVcpuWorkers();
    const before = openFdCount();
    const vm = await createVm();
    const log = new ConsoleLog(vm);
    await vm.start();
    await log.until(READY);
    assert.ok(openFdCount() > before, 'a running VM holds fds');
    await vm[Symbol.asyncDispose]();
    await vm[Symbol.asyncDispose]();
    await vm.dispose();
    assert.equal((await vm.exited).reason, 'stopped');
    // Worker threads close their vCPU fds as they exit; give the event loop a moment.
    await warmVcpuWorkers();
    for (let i = 0; i < 50 && openFdCount() > before; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(openFdCount(), before);
  });
});
