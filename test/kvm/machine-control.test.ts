import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Machine } from '../../lib/runner/machine';
import { requireKvm } from '../helpers/kvm';
import { guestMachine, sleep } from '../helpers/machines';

describe('machine control under awkward timing (real KVM)', function () {
  before(function () {
    requireKvm(this);
  });

  it('honours a stop() issued while start() is still spawning vCPUs', async () => {
    const machine = guestMachine({ guest: 'spin', mode: 'real', loadAddress: 0x1000, memorySize: 64 * 1024, vcpus: 2 });
    const starting = machine.start();
    const stopped = machine.stop();
    await starting;
    const exit = await stopped;
    assert.equal(exit.reason, 'stopped');
    assert.equal(machine.phase, 'exited');
    await machine.dispose();
  });

  it('ignores pause() and resume() once a stop is under way, so exited still resolves', async () => {
    const machine = guestMachine({ guest: 'spin', mode: 'real', loadAddress: 0x1000, memorySize: 64 * 1024, vcpus: 2 });
    await machine.start();
    const stopped = machine.stop();
    await machine.pause();
    machine.resume();
    assert.equal((await stopped).reason, 'stopped');
    await machine.dispose();
  });

  it('rejects start() when an init function throws, without leaving a worker behind', async () => {
    let calls = 0;
    const machine = Machine.create({
      memorySize: 64 * 1024,
      vcpus: 2,
      init: (vcpu) => {
        calls++;
        if (vcpu === 1) throw new Error('bad init for vCPU 1');
        return {};
      },
    });
    await assert.rejects(machine.start(), /bad init for vCPU 1/);
    assert.equal(calls, 2);
    const exit = await Promise.race([machine.stop(), sleep(10_000).then(() => undefined)]);
    assert.ok(exit, 'stop() resolved');
    await machine.dispose();
  });

  it('lets the process exit while a vCPU is blocked in KVM_RUN (in-kernel HLT)', function () {
    this.timeout(120_000);
    const script = `
      const { Machine } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'lib', 'index.js'))});
      const machine = Machine.create({ memorySize: 64 * 1024, irqchip: true, init: () => ({ sregs: { cs: { base: 0n, selector: 0 } }, regs: { rip: 0x1000n, rflags: 2n } }) });
      machine.memory.writeBytes(0x1000, Uint8Array.of(0xfa, 0xf4, 0xeb, 0xfd)); // cli; hlt; jmp hlt
      machine.start().then(() => setTimeout(() => { console.log('exiting'); process.exit(0); }, 300));
    `;
    const started = Date.now();
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 90_000 });
    assert.equal(child.error, undefined, `child did not exit: ${child.error?.message}`);
    assert.match(child.stdout, /exiting/);
    assert.equal(child.status, 0, child.stderr);
    console.log(`      child exited ${Date.now() - started} ms after spawn`);
  });
});
