// The instructions node-vmm finishes for KVM's emulator (nested PVM), against a fake vCPU: what each
// one does to the registers and events, and the cases it must leave alone.
import { strict as assert } from 'node:assert';
import { completeEmulationFailure, COMPLETED_INSTRUCTIONS, CompletingVcpu, fwaitWouldFault } from '../../lib/arch/x86_64/emulator-completion';
import { KvmInternalError } from '../../lib/kvm/constants';
import type { VcpuExit } from '../../lib/kvm/exits';
import { defaultFpu, Fpu, FPU_DEFAULT_FCW } from '../../lib/kvm/structs/fpu';
import { emptyRegs, Regs } from '../../lib/kvm/structs/regs';
import { decodeSregs, Sregs, SREGS_SIZE } from '../../lib/kvm/structs/sregs';
import { decodeVcpuEvents, VcpuEvents, VCPU_EVENTS_SIZE } from '../../lib/kvm/structs/vcpu-events';

const RIP = 0xffffffff81001000n;
const CR0_PE_PG_NE = (1n << 0n) | (1n << 31n) | (1n << 5n);
const CR0_MP = 1n << 1n;
const CR0_TS = 1n << 3n;

class FakeVcpu implements CompletingVcpu {
  regs: Regs = { ...emptyRegs(), rip: RIP };
  sregs: Sregs = decodeSregs(new Uint8Array(SREGS_SIZE));
  fpu: Fpu = defaultFpu();
  events: VcpuEvents = decodeVcpuEvents(new Uint8Array(VCPU_EVENTS_SIZE));
  eventsSet = 0;
  constructor(cpl = 0) {
    this.sregs.cs.selector = 0x10 | cpl;
    this.sregs.cr0 = CR0_PE_PG_NE;
  }
  getRegs(): Regs {
    return { ...this.regs };
  }
  setRegs(regs: Regs): void {
    this.regs = regs;
  }
  getSregs(): Sregs {
    return this.sregs;
  }
  getFpu(): Fpu {
    return this.fpu;
  }
  getVcpuEvents(): VcpuEvents {
    return this.events;
  }
  setVcpuEvents(events: VcpuEvents): void {
    this.events = events;
    this.eventsSet++;
  }
  translate(): ReturnType<CompletingVcpu['translate']> {
    throw new Error('the exit carried the instruction bytes: no translation needed');
  }
}

const noMemory = { contains: () => false, readU8: () => 0 };

/** An emulation failure whose data carries the failing instruction's bytes (flags bit 0). */
function emulationFailure(...bytes: number[]): VcpuExit {
  let word = BigInt(bytes.length);
  bytes.forEach((byte, i) => (word |= BigInt(byte) << BigInt(8 * (i + 1))));
  return { kind: 'internal-error', suberror: KvmInternalError.EMULATION, suberrorName: 'EMULATION', data: [1n, word] };
}

describe('instructions finished for KVM’s emulator', () => {
  it('lists int3 and fwait', () => {
    assert.deepEqual([...COMPLETED_INSTRUCTIONS].sort(), ['fwait', 'int3']);
  });

  it('int3: RIP past it and #BP injected', () => {
    const vcpu = new FakeVcpu();
    assert.equal(completeEmulationFailure(emulationFailure(0xcc), vcpu, noMemory), 'int3');
    assert.equal(vcpu.regs.rip, RIP + 1n);
    assert.deepEqual(vcpu.events.exception, { injected: 1, nr: 3, hasErrorCode: 0, pending: 0, errorCode: 0 });
  });

  it('fwait with nothing pending: RIP past it, nothing injected', () => {
    const vcpu = new FakeVcpu();
    assert.equal(completeEmulationFailure(emulationFailure(0x9b, 0xdf, 0xe0), vcpu, noMemory), 'fwait');
    assert.equal(vcpu.regs.rip, RIP + 1n, 'only the fwait: the fnstsw after it is its own instruction');
    assert.equal(vcpu.eventsSet, 0);
  });

  it('fwait is left alone where it would fault', () => {
    const pending = new FakeVcpu();
    pending.fpu = { ...defaultFpu(), fcw: FPU_DEFAULT_FCW & ~0x4, fsw: 0x84 }; // ZE unmasked and flagged
    const tsMp = new FakeVcpu();
    tsMp.sregs.cr0 |= CR0_TS | CR0_MP;
    for (const vcpu of [pending, tsMp]) {
      assert.equal(completeEmulationFailure(emulationFailure(0x9b), vcpu, noMemory), undefined);
      assert.equal(vcpu.regs.rip, RIP, 'RIP still at the fwait');
    }
  });

  it('decides fwait from CR0, the control word and the status word', () => {
    assert.equal(fwaitWouldFault(CR0_PE_PG_NE, FPU_DEFAULT_FCW, 0), false, 'reset state');
    assert.equal(fwaitWouldFault(CR0_PE_PG_NE, FPU_DEFAULT_FCW, 0x3f), false, 'flags set but every exception masked');
    assert.equal(fwaitWouldFault(CR0_PE_PG_NE, FPU_DEFAULT_FCW & ~0x1, 0x01), true, 'IE unmasked and flagged');
    assert.equal(fwaitWouldFault(CR0_PE_PG_NE, FPU_DEFAULT_FCW, 0x80), true, 'the error summary alone');
    assert.equal(fwaitWouldFault(CR0_PE_PG_NE | CR0_TS, FPU_DEFAULT_FCW, 0), false, 'TS without MP: fwait does not trap');
    assert.equal(fwaitWouldFault(CR0_PE_PG_NE | CR0_TS | CR0_MP, FPU_DEFAULT_FCW, 0), true, '#NM');
  });

  it('leaves other instructions, other CPLs and other exits alone', () => {
    const vcpu = new FakeVcpu();
    assert.equal(completeEmulationFailure(emulationFailure(0x0f, 0xc7, 0x0e), vcpu, noMemory), undefined, 'cmpxchg16b');
    assert.equal(completeEmulationFailure(emulationFailure(0xcc), new FakeVcpu(3), noMemory), undefined, 'ring 3');
    assert.equal(completeEmulationFailure({ ...(emulationFailure(0xcc) as Extract<VcpuExit, { kind: 'internal-error' }>), suberror: KvmInternalError.EMULATION + 1 }, vcpu, noMemory), undefined, 'another suberror');
    assert.equal(completeEmulationFailure({ kind: 'hlt' }, vcpu, noMemory), undefined);
    assert.equal(vcpu.regs.rip, RIP);
    assert.equal(vcpu.eventsSet, 0);
  });
});
