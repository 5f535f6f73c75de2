import { strict as assert } from 'node:assert';
import { Machine } from '../../lib/runner/machine';
import { Kind, createLog, readLog } from '../devices/recorder';
import { AcpiSleepDevice } from '../../lib/devices/legacy/acpi-sleep/device';
import { DebugExitDevice } from '../../lib/devices/legacy/debug-exit/device';
import { I8042Device } from '../../lib/devices/legacy/i8042/device';
import { placed } from '../helpers/devices';
import { deviceModule, requireKvm } from '../helpers/kvm';
import { guestMachine, sleep } from '../helpers/machines';
import { defaultFpu, Fpu, FPU_DEFAULT_FCW } from '../../lib/kvm/structs/fpu';

const MiB = 1024 * 1024;

describe('guests on real KVM', function () {
  const machines: Machine[] = [];
  before(function () {
    requireKvm(this);
  });
  afterEach(async () => {
    await Promise.all(machines.splice(0).map((m) => m.dispose()));
  });
  const track = (machine: Machine): Machine => {
    machines.push(machine);
    return machine;
  };

  /** The real-mode-io guest (a port write and read, an MMIO write and read, HLT) with the recorder device on its windows. */
  const realModeIoMachine = (log: SharedArrayBuffer, readPattern: number[], config: { countDeviceAccesses?: boolean } = {}): Machine =>
    guestMachine({
      guest: 'real-mode-io',
      mode: 'real',
      loadAddress: 0x1000,
      memorySize: 512 * 1024,
      ...config,
      devices: [{ module: deviceModule('recorder'), args: { log, pio: { base: 0x10, size: 2 }, mmio: { base: 0xd0000, size: 0x10 }, readPattern } }],
    });

  it('runs a real-mode guest whose port and MMIO accesses a TypeScript device answers', async () => {
    const log = createLog(16);
    const machine = track(realModeIoMachine(log, [0x99, 0x88, 0x34, 0x12]));
    await machine.start();
    const exit = await machine.exited;
    assert.equal(exit.reason, 'halted');
    const end = exit.vcpus[0];
    assert.equal(end?.exit?.kind, 'hlt');
    assert.equal(Number((end?.regs?.rbx ?? 0n) & 0xffn), 0x88, 'BL = byte read from port 0x11 (pattern offset 1)');
    assert.equal(Number((end?.regs?.rcx ?? 0n) & 0xffffn), 0x1234, 'CX = word read from MMIO offset 2');
    assert.deepEqual(
      readLog(log).map((e) => [e.kind, e.offset, e.size, e.value]),
      [
        [Kind.PIO_WRITE, 0, 1, 0x42n],
        [Kind.PIO_READ, 1, 1, 0x88n],
        [Kind.MMIO_WRITE, 0, 1, 0x5an],
        [Kind.MMIO_READ, 2, 2, 0x1234n],
      ],
    );
  });

  it('counts accesses by device unless countDeviceAccesses is false', async () => {
    const run = async (countDeviceAccesses: boolean | undefined): Promise<Record<string, number>> => {
      const machine = track(realModeIoMachine(createLog(16), [0], countDeviceAccesses === undefined ? {} : { countDeviceAccesses }));
      await machine.start();
      assert.equal((await machine.exited).reason, 'halted');
      const [vcpu] = machine.vcpuExitCounts();
      assert.equal((vcpu?.ioIn ?? 0) + (vcpu?.ioOut ?? 0) + (vcpu?.mmioRead ?? 0) + (vcpu?.mmioWrite ?? 0), 4, 'the exits themselves are always counted');
      return vcpu?.byDevice ?? {};
    };
    const counted = await run(undefined);
    assert.deepEqual(Object.values(counted), [4], `by default, the guest's 4 accesses under the device's id: ${JSON.stringify(counted)}`);
    assert.deepEqual(await run(false), {}, 'not counted by device');
  });

  it('runs a 64-bit long-mode guest with 4- and 8-byte accesses', async () => {
    const log = createLog(16);
    const mmioBase = 8 * MiB;
    const machine = track(
      guestMachine({
        guest: 'long-mode-io',
        mode: 'long',
        loadAddress: 0x100000,
        memorySize: 4 * MiB,
        regs: () => ({ rdi: BigInt(mmioBase) }),
        devices: [{ module: deviceModule('recorder'), args: { log, pio: { base: 0x10, size: 4 }, mmio: { base: mmioBase, size: 0x10 }, readPattern: [1, 2, 3, 4, 5, 6, 7, 8] } }],
      }),
    );
    await machine.start();
    const exit = await machine.exited;
    assert.equal(exit.reason, 'halted', JSON.stringify(exit.vcpus[0]?.exit));
    const regs = exit.vcpus[0]?.regs;
    assert.equal(Number((regs?.rbx ?? 0n) & 0xffn), 2);
    assert.equal(regs?.rcx, 0x0807060504030201n, 'RCX = qword read at MMIO offset 8 (pattern wraps)');
    assert.equal(exit.vcpus[0]?.sregs?.efer !== undefined && (exit.vcpus[0].sregs.efer & (1n << 10n)) !== 0n, true, 'EFER.LMA set');
    assert.deepEqual(
      readLog(log).map((e) => [e.kind, e.offset, e.size, e.value]),
      [
        [Kind.PIO_WRITE, 0, 4, 0x1234abcdn],
        [Kind.PIO_READ, 1, 1, 2n],
        [Kind.MMIO_WRITE, 0, 4, 0xdeadbeefn],
        [Kind.MMIO_READ, 8, 8, 0x0807060504030201n],
      ],
    );
  });

  it('runs two vCPUs at the same time (a guest barrier only both together can pass)', async () => {
    const log = createLog(8);
    const machine = track(
      guestMachine({
        guest: 'barrier',
        mode: 'long',
        loadAddress: 0x100000,
        memorySize: 4 * MiB,
        vcpus: 2,
        regs: (vcpu) => ({ rax: BigInt(0xc0 + vcpu), rsi: 2n, rsp: BigInt(0x80000 + vcpu * 0x1000) }),
        devices: [{ module: deviceModule('recorder'), args: { log, pio: { base: 0x10, size: 4 }, readPattern: [0] } }],
      }),
    );
    await machine.start();
    const exit = await Promise.race([machine.exited, sleep(60_000).then(() => undefined)]);
    assert.ok(exit, 'both vCPUs passed the barrier within 60 s');
    assert.equal(exit.reason, 'halted');
    assert.equal(machine.memory.readU32(0x8000), 2);
    const writes = readLog(log).filter((e) => e.kind === Kind.PIO_WRITE);
    assert.deepEqual(writes.map((e) => [e.vcpu, Number(e.value)]).sort(), [[0, 0xc0], [1, 0xc1]]);
  });

  it('stops a guest that spins without ever exiting', async () => {
    const machine = track(guestMachine({ guest: 'spin', mode: 'real', loadAddress: 0x1000, memorySize: 64 * 1024 }));
    await machine.start();
    await sleep(200);
    const started = Date.now();
    const exit = await machine.stop();
    assert.equal(exit.reason, 'stopped');
    assert.equal(exit.vcpus[0]?.reason, 'stopped');
    assert.ok(Date.now() - started < 5000, 'stop took under 5 s');
    const rip = Number(exit.vcpus[0]?.regs?.rip ?? 0n);
    assert.ok(rip === 0x1000, `rip 0x${rip.toString(16)} is inside the spin loop`);
  });

  it('pauses and resumes a running guest', async () => {
    const machine = track(guestMachine({ guest: 'spin', mode: 'real', loadAddress: 0x1000, memorySize: 64 * 1024, vcpus: 2 }));
    await machine.start();
    await machine.pause();
    machine.resume();
    await sleep(50);
    await machine.pause();
    const exit = await machine.stop();
    assert.equal(exit.reason, 'stopped');
    assert.equal(exit.vcpus.length, 2);
  });

  it('ends the VM with a typed error when a device throws (the host keeps running)', async () => {
    const machine = track(
      guestMachine({ guest: 'real-mode-io', mode: 'real', loadAddress: 0x1000, memorySize: 512 * 1024, devices: [{ module: deviceModule('throwing') }] }),
    );
    await machine.start();
    const exit = await machine.exited;
    assert.equal(exit.reason, 'error');
    assert.equal(exit.vcpus[0]?.reason, 'error');
    assert.match(exit.error?.message ?? '', /device write failed on purpose/);
    // On VT-x/AMD-V, KVM steps past an OUT only on the next KVM_RUN, so RIP still points at it (0x1002).
    // Where KVM's instruction emulator ran the OUT (guest ring 0 on nested PVM), RIP was written back
    // before the exit, so it points past the 2-byte instruction.
    const rip = exit.vcpus[0]?.regs?.rip;
    assert.ok(rip === 0x1002n || rip === 0x1004n, `rip 0x${rip?.toString(16)} is at the out that failed or just past it`);
  });

  it("ends the VM on an access no device claims when unhandledIo is 'error'", async () => {
    const machine = track(guestMachine({ guest: 'real-mode-io', mode: 'real', loadAddress: 0x1000, memorySize: 512 * 1024, unhandledIo: 'error' }));
    await machine.start();
    const exit = await machine.exited;
    assert.equal(exit.reason, 'error');
    assert.equal(exit.vcpus[0]?.reason, 'unhandled-io');
    assert.match(exit.error?.message ?? '', /unhandled pio write of 1 bytes at 0x10/);
  });

  it('reports unclaimed accesses and reads all-ones by default', async () => {
    const machine = track(guestMachine({ guest: 'real-mode-io', mode: 'real', loadAddress: 0x1000, memorySize: 512 * 1024 }));
    const reported: string[] = [];
    machine.on('unhandled-io', (info) => reported.push(`${info.bus}:${info.write ? 'w' : 'r'}:${info.address.toString(16)}`));
    await machine.start();
    const exit = await machine.exited;
    assert.equal(exit.reason, 'halted');
    assert.equal(Number((exit.vcpus[0]?.regs?.rbx ?? 0n) & 0xffn), 0xff);
    assert.equal(Number((exit.vcpus[0]?.regs?.rcx ?? 0n) & 0xffffn), 0xffff);
    assert.deepEqual(reported, ['pio:w:10', 'pio:r:11', 'mmio:w:d0000', 'mmio:r:d0002']);
  });

  it('ends with reason shutdown on a triple fault', async () => {
    // ud2 in long mode with an empty IDT: #UD -> #DF -> triple fault -> KVM_EXIT_SHUTDOWN
    const machine = track(guestMachine({ guest: 'spin', mode: 'long', loadAddress: 0x100000, memorySize: 4 * MiB }));
    machine.memory.writeBytes(0x100000, Uint8Array.of(0x0f, 0x0b));
    await machine.start();
    const exit = await machine.exited;
    assert.equal(exit.reason, 'shutdown');
    assert.equal(exit.vcpus[0]?.exit?.kind, 'shutdown');
  });

  /**
   * Runs a long-mode test guest around one `instruction` to its end. Where KVM's emulator runs ring 0
   * (nested PVM) the instruction ends KVM_RUN, and node-vmm finishes it (VcpuEnd.recovered) or leaves it.
   */
  const runLongModeGuest = async (guest: string, instruction: string, fpu?: Fpu) => {
    const machine = track(guestMachine({ guest, mode: 'long', loadAddress: 0x100000, memorySize: 4 * MiB, ...(fpu !== undefined ? { fpu } : {}) }));
    await machine.start();
    const exit = await machine.exited;
    const end = exit.vcpus[0];
    const emulationFailures = end?.exitCounts.INTERNAL_ERROR ?? 0;
    if (exit.reason === 'halted') {
      assert.deepEqual(end?.recovered, emulationFailures > 0 ? { [instruction]: 1 } : {}, 'each emulation failure was the instruction, finished');
      console.log(`      ${instruction} ${emulationFailures > 0 ? 'finished by node-vmm after an emulation failure' : 'run by the CPU'}`);
    }
    return { exit, end, regs: end?.regs, emulationFailures };
  };

  it('delivers #BP for a ring-0 int3 to the guest handler with RIP past it, and the guest runs on', async () => {
    const { exit, regs } = await runLongModeGuest('int3', 'int3');
    assert.equal(exit.reason, 'halted', `ended with ${exit.reason} ${exit.error?.message ?? ''}`);
    assert.equal(regs?.r12, 1n, 'the #BP handler ran once');
    assert.equal(regs?.rbx, regs?.rcx, 'the frame holds the address just after the int3');
  });

  it('runs a ring-0 fwait with no x87 exception pending as a no-op, and the guest runs on', async () => {
    const { exit, regs } = await runLongModeGuest('fwait', 'fwait');
    assert.equal(exit.reason, 'halted', `ended with ${exit.reason} ${exit.error?.message ?? ''}`);
    assert.equal(regs?.r12, 0n, 'no #MF');
    assert.equal(regs?.r13, 0n, 'no #NM');
    assert.equal(regs?.rcx, (regs?.rdx ?? 0n) + 1n, 'the instruction after the one-byte fwait ran');
  });

  it('does not step over a ring-0 fwait with an unmasked x87 exception pending: the CPU raises #MF, node-vmm leaves the fault standing', async () => {
    // Invalid operation unmasked in the control word and flagged (IE, and the summary ES) in the status word.
    const { exit, end, emulationFailures } = await runLongModeGuest('fwait', 'fwait', { ...defaultFpu(), fcw: FPU_DEFAULT_FCW & ~0x1, fsw: 0x81 });
    if (emulationFailures === 0) {
      // Guest kernel mode runs natively: the CPU delivered #MF at the fwait, the handler cleared it.
      assert.equal(exit.reason, 'halted', `ended with ${exit.reason} ${exit.error?.message ?? ''}`);
      assert.equal(end?.regs?.r12, 1n, 'one #MF');
      assert.equal(end?.regs?.rbx, end?.regs?.rdx, '#MF frame at the fwait');
      return;
    }
    assert.equal(exit.reason, 'fault', `ended with ${exit.reason}`);
    assert.equal(end?.exit?.kind, 'internal-error');
    assert.equal(end?.regs?.r12, 0n, 'no #MF made up by node-vmm');
    assert.deepEqual(end?.recovered, {}, 'nothing finished');
    assert.equal(end?.regs?.rip, end?.regs?.rdx, 'stopped at the fwait');
    console.log('      the emulation failure at the fwait ends the VM (node-vmm finishes only a fwait that does nothing)');
  });

  it('rejects start() with a typed error when a device module cannot load, and cleans up', async () => {
    const machine = track(guestMachine({ guest: 'spin', mode: 'real', loadAddress: 0x1000, memorySize: 64 * 1024, vcpus: 2, devices: [{ module: '/nonexistent/device.js' }] }));
    await assert.rejects(machine.start(), (error: Error) => {
      assert.equal(error.name, 'VcpuError');
      assert.match(error.message, /failed to start.*Cannot find module/s);
      return true;
    });
    const exit = await machine.exited;
    assert.equal(exit.reason, 'error');
  });
  it("ends with reason 'exited' and the guest's status through the debug-exit port", async () => {
    const machine = track(guestMachine({ guest: 'spin', mode: 'real', loadAddress: 0x1000, memorySize: 64 * 1024, devices: placed(new DebugExitDevice()) }));
    // mov $7, %al; mov $0x501, %dx; out %al, %dx; hlt
    machine.memory.writeBytes(0x1000, Uint8Array.of(0xb0, 0x07, 0xba, 0x01, 0x05, 0xee, 0xf4));
    await machine.start();
    const exit = await machine.exited;
    assert.equal(exit.reason, 'exited');
    assert.equal(exit.status, 7);
  });

  it("ends with reason 'shutdown' when the guest enters S5 through the ACPI sleep control register", async () => {
    const machine = track(guestMachine({ guest: 'spin', mode: 'real', loadAddress: 0x1000, memorySize: 64 * 1024, devices: placed(new AcpiSleepDevice()) }));
    // mov $0x80, %al; mov $0x600, %dx; out %al, %dx (clear WAK_STS: nothing happens); mov $0x34, %al; out %al, %dx (SLP_EN | S5); hlt
    machine.memory.writeBytes(0x1000, Uint8Array.of(0xb0, 0x80, 0xba, 0x00, 0x06, 0xee, 0xb0, 0x34, 0xee, 0xf4));
    await machine.start();
    const exit = await machine.exited;
    assert.equal(exit.reason, 'shutdown');
  });

  it("ends with reason 'reset' when the guest pulses the i8042 reset line", async () => {
    const machine = track(
      guestMachine({ guest: 'spin', mode: 'real', loadAddress: 0x1000, memorySize: 64 * 1024, devices: placed(new I8042Device()) }),
    );
    // mov $0xfe, %al; out %al, $0x64; hlt
    machine.memory.writeBytes(0x1000, Uint8Array.of(0xb0, 0xfe, 0xe6, 0x64, 0xf4));
    await machine.start();
    const exit = await machine.exited;
    assert.equal(exit.reason, 'reset');
  });
});
