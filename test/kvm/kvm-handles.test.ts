import { strict as assert } from 'node:assert';
import { KvmCap, KvmMpState, KVM_API_VERSION } from '../../lib/kvm/constants';
import { ArgumentError, KvmIoctlError } from '../../lib/kvm/errors';
import { Kvm } from '../../lib/kvm/kvm';
import { Msr } from '../../lib/kvm/structs/msrs';
import { native } from '../../lib/native/binding';
import { requireKvm, settledFdCount } from '../helpers/kvm';

describe('Kvm, Vm and Vcpu handles (real KVM)', function () {
  let kvm: Kvm;
  before(function () {
    requireKvm(this);
    kvm = Kvm.open();
  });
  after(() => kvm?.close());

  it('opens /dev/kvm with the stable API version and the capabilities the VMM needs', () => {
    assert.equal(kvm.apiVersion, KVM_API_VERSION);
    kvm.requireCapabilities();
    assert.ok(kvm.vcpuMmapSize >= 4096);
    assert.ok(kvm.checkExtension('NR_MEMSLOTS') > 0);
    assert.equal(kvm.checkExtension(KvmCap.USER_MEMORY) > 0, true);
  });

  it('lists supported CPUID leaves and MSRs', () => {
    const cpuid = kvm.supportedCpuid();
    assert.ok(cpuid.length > 5);
    assert.ok(cpuid.some((e) => e.function === 0));
    const msrs = kvm.msrIndexList();
    assert.ok(msrs.includes(Msr.EFER) || msrs.includes(Msr.LSTAR));
  });

  it('creates a VM and a vCPU whose registers round-trip', () => {
    using vm = kvm.createVm();
    using vcpu = vm.createVcpu(0);
    const regs = vcpu.getRegs();
    regs.rax = 0x1122334455667788n;
    regs.rip = 0x1000n;
    vcpu.setRegs(regs);
    assert.equal(vcpu.getRegs().rax, 0x1122334455667788n);
    const sregs = vcpu.getSregs();
    sregs.cs.base = 0n;
    sregs.cs.selector = 0;
    vcpu.setSregs(sregs);
    assert.equal(vcpu.getSregs().cs.selector, 0);
    const fpu = vcpu.getFpu();
    vcpu.setFpu(fpu);
    assert.equal(vcpu.getMpState(), KvmMpState.RUNNABLE);
    vcpu.setMsrs([{ index: Msr.IA32_SYSENTER_CS, data: 0x10n }]);
    assert.deepEqual(vcpu.getMsrs([Msr.IA32_SYSENTER_CS]), [{ index: Msr.IA32_SYSENTER_CS, data: 0x10n }]);
    const events = vcpu.getVcpuEvents();
    vcpu.setVcpuEvents(events);
    vcpu.setCpuid(kvm.supportedCpuid());
    assert.ok(vcpu.getCpuid().length > 0);
    if (kvm.hasCapability('XSAVE')) vcpu.setXsave(vcpu.getXsave());
    if (kvm.hasCapability('XCRS')) vcpu.setXcrs(vcpu.getXcrs());
  });

  it('setRunClock: refuses anything but a Float64Array with two slots at the index, and keeps the array alive', () => {
    using vm = kvm.createVm();
    using vcpu = vm.createVcpu(0);
    const refused = (e: Error): boolean => e instanceof Error && /counters|index/.test(e.message);
    assert.throws(() => vcpu.setRunClock(new Uint8Array(16) as unknown as Float64Array, 0), refused);
    assert.throws(() => vcpu.setRunClock(new Float64Array(1), 0), refused);
    assert.throws(() => vcpu.setRunClock(new Float64Array(4), 3), refused, 'index + 1 past the end');
    assert.throws(() => vcpu.setRunClock(new Float64Array(4), -1), refused);
    vcpu.setRunClock(new Float64Array(new SharedArrayBuffer(32)), 2);
    global.gc?.(); // the addon holds the array it writes into
  });

  it('reads and writes the LAPIC with an in-kernel irqchip', () => {
    using vm = kvm.createVm();
    vm.createIrqchip();
    vm.createPit2();
    using vcpu = vm.createVcpu(0);
    const lapic = vcpu.getLapic();
    assert.equal(lapic.length, 1024);
    vcpu.setLapic(lapic);
    vm.irqLine(4, true);
    vm.irqLine(4, false);
    const clock = vm.getClock();
    vm.setClock(clock.clock);
  });

  it('wires irqfd and ioeventfd to eventfds', () => {
    using vm = kvm.createVm();
    vm.createIrqchip();
    const efd = native().createEventfd(0, true, false);
    try {
      vm.irqfd(efd.fd, 5);
      vm.irqfd(efd.fd, 5, { deassign: true });
      vm.ioeventfd(efd.fd, { pio: false, address: 0xd0000050, length: 4 });
      vm.ioeventfd(efd.fd, { pio: false, address: 0xd0000050, length: 4, deassign: true });
    } finally {
      efd.close();
    }
  });

  it('validates memory slots against live mappings and reports ioctl errors with their name', () => {
    using vm = kvm.createVm();
    const mapping = native().mapGuestMemory(64 * 1024);
    try {
      assert.throws(() => vm.setUserMemoryRegion(0, 0x1000, mapping.address + 1n, 4096), ArgumentError);
      assert.throws(() => vm.setUserMemoryRegion(0, 0x1001, mapping.address, 4096), ArgumentError);
      assert.throws(() => vm.setUserMemoryRegion(0, 0, mapping.address, 128 * 1024), /inside a live guest-memory mapping/);
      assert.throws(() => vm.setUserMemoryRegion(0, 0, 0x10000n, 4096), /inside a live guest-memory mapping/);
      vm.setUserMemoryRegion(0, 0, mapping.address, 64 * 1024, { logDirtyPages: true });
      assert.equal(vm.getDirtyLog(0).length, 8);
      assert.throws(() => vm.getDirtyLog(1), /not a memory slot/);
      assert.throws(() => vm.setUserMemoryRegion(1, 0x8000, mapping.address, 4096), (error: unknown) => {
        assert.ok(error instanceof KvmIoctlError);
        assert.equal(error.ioctl, 'KVM_SET_USER_MEMORY_REGION');
        assert.equal(error.code, 'EEXIST');
        return true;
      });
      vm.deleteMemoryRegion(0);
    } finally {
      mapping.unmap();
    }
  });

  it('closes a VM with an irqchip and a PIT off the main thread (closeInBackground), leaving no fd', async () => {
    const fdsBefore = await settledFdCount();
    const syncMs: number[] = [];
    const backgroundMs: number[] = [];
    for (let i = 0; i < 6; i++) {
      const vm = kvm.createVm();
      vm.createIrqchip();
      vm.createPit2();
      const started = process.hrtime.bigint();
      if (i % 2 === 0) {
        vm.close();
        syncMs.push(Number(process.hrtime.bigint() - started) / 1e6);
      } else {
        const closing = vm.closeInBackground();
        backgroundMs.push(Number(process.hrtime.bigint() - started) / 1e6);
        assert.equal(vm.closed, true, 'closed for JS at once');
        await closing;
      }
    }
    console.log(`      close(): ${syncMs.map((ms) => ms.toFixed(1)).join(', ')} ms on this thread; closeInBackground(): ${backgroundMs.map((ms) => ms.toFixed(2)).join(', ')} ms`);
    assert.ok(Math.max(...backgroundMs) < Math.min(...syncMs) / 2, 'the main thread does not wait for the teardown');
    assert.equal(await settledFdCount(), fdsBefore);
  });

  it("refuses to unmap guest memory that a live VM's memory slot still uses", () => {
    const mapping = native().mapGuestMemory(64 * 1024);
    try {
      const vm = kvm.createVm();
      vm.setUserMemoryRegion(0, 0, mapping.address, 64 * 1024);
      assert.throws(() => mapping.unmap(), (error: Error & { code?: string }) => error.code === 'EBUSY' && /memory slots of a live VM/.test(error.message));
      assert.equal(mapping.unmapped, false, 'still mapped');
      vm.deleteMemoryRegion(0);
      vm.setUserMemoryRegion(0, 0, mapping.address, 64 * 1024);
      vm.close(); // closing the VM releases its slots too
      mapping.unmap();
      assert.equal(mapping.unmapped, true);
    } finally {
      if (!mapping.unmapped) mapping.unmap();
    }
  });
});
