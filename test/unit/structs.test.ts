import { strict as assert } from 'node:assert';
import { structSize } from '../../lib/kvm/ioctl';
import { runLayoutMismatches } from '../../lib/kvm/run-page';
import { decodeCpuid, encodeCpuid } from '../../lib/kvm/structs/cpuid';
import { decodeFpu, defaultFpu, encodeFpu, FPU_SIZE } from '../../lib/kvm/structs/fpu';
import { decodeMsrs, encodeMsrs, Msr } from '../../lib/kvm/structs/msrs';
import { decodeRegs, emptyRegs, encodeRegs, REGS_SIZE } from '../../lib/kvm/structs/regs';
import { decodeSregs, encodeSregs, SREGS_SIZE } from '../../lib/kvm/structs/sregs';
import { decodeVcpuEvents, encodeVcpuEvents, VCPU_EVENTS_SIZE } from '../../lib/kvm/structs/vcpu-events';
import { decodeXcrs, encodeXcrs, XCRS_SIZE } from '../../lib/kvm/structs/xcrs';
import { gdtEntry, GDT_CODE_64, GDT_DATA, segmentFromEntry } from '../../lib/arch/x86_64/gdt';

describe('KVM struct codecs', () => {
  it('use the sizes of the kernel headers the addon was compiled against', () => {
    assert.equal(structSize('KVM_GET_REGS'), REGS_SIZE);
    assert.equal(structSize('KVM_GET_SREGS'), SREGS_SIZE);
    assert.equal(structSize('KVM_GET_FPU'), FPU_SIZE);
    assert.equal(structSize('KVM_GET_VCPU_EVENTS'), VCPU_EVENTS_SIZE);
    assert.equal(structSize('KVM_GET_XCRS'), XCRS_SIZE);
    assert.equal(structSize('KVM_GET_MSRS'), 16);
    assert.equal(structSize('KVM_GET_CPUID2'), 40);
    assert.equal(structSize('KVM_GET_LAPIC'), 1024);
    assert.equal(structSize('KVM_GET_XSAVE'), 4096);
  });

  it('read kvm_run at the offsets the addon was compiled with', () => {
    assert.deepEqual(runLayoutMismatches(), []);
  });

  it('round-trip general registers', () => {
    const regs = emptyRegs();
    regs.rax = 0xffffffffffffffffn;
    regs.r15 = 0x1234n;
    regs.rip = 0x100000n;
    const bytes = encodeRegs(regs);
    assert.equal(bytes.length, REGS_SIZE);
    assert.deepEqual(decodeRegs(bytes), regs);
    assert.equal(new DataView(bytes.buffer).getBigUint64(16 * 8, true), 0x100000n, 'rip is the 17th u64');
  });

  it('round-trip special registers', () => {
    const bytes = new Uint8Array(SREGS_SIZE);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 0xff;
    // padding bytes (one per segment, 6 per descriptor table) are not modelled: zero them
    for (let s = 0; s < 8; s++) bytes[s * 24 + 23] = 0;
    for (const at of [192, 208]) bytes.fill(0, at + 10, at + 16);
    const decoded = decodeSregs(bytes);
    assert.deepEqual(encodeSregs(decoded), bytes);
  });

  it('round-trip the FPU state, vCPU events, XCRs, MSRs and CPUID entries', () => {
    const fpu = defaultFpu();
    fpu.xmm[3]?.fill(0x5a);
    assert.deepEqual(decodeFpu(encodeFpu(fpu)), fpu);

    const events = decodeVcpuEvents(new Uint8Array(VCPU_EVENTS_SIZE));
    events.exception = { injected: 1, nr: 3, hasErrorCode: 0, pending: 0, errorCode: 0 };
    events.exceptionPayload = 0xabcn;
    assert.deepEqual(decodeVcpuEvents(encodeVcpuEvents(events)), events);

    const xcrs = [{ xcr: 0, value: 0x7n }];
    assert.deepEqual(decodeXcrs(encodeXcrs(xcrs)), xcrs);

    const msrs = [{ index: Msr.EFER, data: 0x500n }, { index: Msr.LSTAR, data: 0xffffffff81000000n }];
    assert.deepEqual(decodeMsrs(encodeMsrs(msrs), 2), msrs);

    const cpuid = [{ function: 0x40000000, index: 0, flags: 0, eax: 0x40000001, ebx: 1, ecx: 2, edx: 3 }];
    assert.deepEqual(decodeCpuid(encodeCpuid(cpuid)), cpuid);
  });

  it('pack GDT entries the way KVM segments describe them', () => {
    const code = gdtEntry(GDT_CODE_64, 0, 0xfffff);
    assert.equal(code, 0x00af9b000000ffffn);
    const seg = segmentFromEntry(code, 0x8);
    assert.deepEqual([seg.type, seg.present, seg.l, seg.db, seg.g, seg.s, seg.limit], [0xb, 1, 1, 0, 1, 1, 0xfffff]);
    const data = segmentFromEntry(gdtEntry(GDT_DATA, 0, 0xfffff), 0x10);
    assert.deepEqual([data.type, data.db, data.l], [0x3, 1, 0]);
  });
});
