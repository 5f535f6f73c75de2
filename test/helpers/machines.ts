// Builds machines that run one of the test guests (test/guests/*.S) in real or long mode.
import { enterLongMode, flatRealMode } from '../../lib/arch/x86_64/long-mode';
import type { Fpu } from '../../lib/kvm/structs/fpu';
import type { Regs } from '../../lib/kvm/structs/regs';
import { Machine, MachineConfig } from '../../lib/runner/machine';
import type { VcpuInit } from '../../lib/arch/x86_64/vcpu-init';
import { guestBinary } from '../guests/build';

export interface GuestMachineOptions extends Omit<MachineConfig, 'init'> {
  guest: string;
  loadAddress: number;
  mode: 'real' | 'long';
  regs?: (vcpu: number) => Partial<Regs>;
  /** x87/SSE state to start with (default: the vCPU's reset state). */
  fpu?: Fpu;
}

export function guestMachine(options: GuestMachineOptions): Machine {
  const { guest, loadAddress, mode, regs, fpu, ...config } = options;
  const machine = Machine.create({
    ...config,
    init: (vcpu, memory): VcpuInit => ({
      sregs: mode === 'long' ? enterLongMode(memory) : flatRealMode(),
      regs: { rip: BigInt(loadAddress), rflags: 0x2n, ...(regs?.(vcpu) ?? {}) },
      ...(fpu !== undefined ? { fpu } : {}),
    }),
  });
  machine.memory.writeBytes(loadAddress, guestBinary(guest));
  return machine;
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The out-loop guest: `iterations` port writes to 0x10, counted by the counter device, then HLT. */
export function outLoopMachine(iterations: bigint, counter: SharedArrayBuffer, counterModule: string, config: Pick<MachineConfig, 'countDeviceAccesses' | 'timeKvmRun'> = {}): Machine {
  return guestMachine({
    ...config,
    guest: 'out-loop',
    mode: 'real',
    loadAddress: 0x1000,
    memorySize: 64 * 1024,
    regs: () => ({ rcx: iterations }),
    devices: [{ module: counterModule, args: { counter, port: 0x10 } }],
  });
}
