// Does guest kernel mode run natively here? A ring-0 guest times a loop of `dec; jnz` between two port
// writes, a few rounds. On VT-x/AMD-V hardware an iteration takes well under a nanosecond; where KVM
// emulates guest ring 0 instruction by instruction (nested PVM: ~0.65 µs per instruction), over a
// microsecond. The threshold sits far from both.
import * as path from 'node:path';
import { enterLongMode } from '../arch/x86_64/long-mode';
import { VmmError } from '../kvm/errors';
import { Machine } from '../runner/machine';

const PROBE_PORT = 0x510;
const LOOP_ITERATIONS = 100_000;
const ROUNDS = 3;
const CODE_ADDRESS = 0x100000;
const MEMORY_SIZE = 4 * 1024 * 1024;
/** Per-iteration cost above which kernel mode counts as emulated. */
export const EMULATED_NS_PER_ITERATION = 50;
const DEVICE_MODULE = path.join(__dirname, 'kernel-mode-probe-device.js');

export interface KernelModeProbe {
  /** Fastest round, nanoseconds per loop iteration (two instructions). */
  nsPerIteration: number;
  native: boolean;
}

function u16(value: number): number[] {
  return [value & 0xff, (value >> 8) & 0xff];
}

function u32(value: number): number[] {
  return [...u16(value & 0xffff), ...u16(value >>> 16)];
}

/** The guest: ROUNDS times { out; ecx = N; 1: dec ecx; jnz 1b; out }, then hlt. */
export function probeCode(iterations = LOOP_ITERATIONS, rounds = ROUNDS): Uint8Array {
  return Uint8Array.from([
    0x66, 0xba, ...u16(PROBE_PORT), //  mov $PROBE_PORT, %dx
    0xbb, ...u32(rounds), //            mov $rounds, %ebx
    0xee, //                            2: out %al, %dx
    0xb9, ...u32(iterations), //        mov $iterations, %ecx
    0xff, 0xc9, //                      1: dec %ecx
    0x75, 0xfc, //                      jnz 1b
    0xee, //                            out %al, %dx
    0xff, 0xcb, //                      dec %ebx
    0x75, 0xf1, //                      jnz 2b
    0xf4, //                            hlt
  ]);
}

export async function probeKernelMode(kvmPath?: string): Promise<KernelModeProbe> {
  const rounds: number[] = [];
  const machine = Machine.create({
    memorySize: MEMORY_SIZE,
    ...(kvmPath !== undefined ? { kvmPath } : {}),
    devices: [
      {
        id: 'kernel-mode-probe',
        worker: { module: DEVICE_MODULE, args: { port: PROBE_PORT } },
        connect: (_vcpu, port) => port.on('message', (ns: unknown) => typeof ns === 'number' && rounds.push(ns)),
      },
    ],
    init: (_vcpu, memory) => ({ sregs: enterLongMode(memory), regs: { rip: BigInt(CODE_ADDRESS), rflags: 0x2n } }),
  });
  try {
    machine.memory.writeBytes(CODE_ADDRESS, probeCode());
    await machine.start();
    const exit = await machine.exited;
    if (exit.reason !== 'halted' || rounds.length !== ROUNDS) {
      throw exit.error ?? new VmmError(`the probe guest ended with '${exit.reason}' after ${rounds.length} of ${ROUNDS} rounds`);
    }
    const nsPerIteration = Math.min(...rounds) / LOOP_ITERATIONS;
    return { nsPerIteration, native: nsPerIteration < EMULATED_NS_PER_ITERATION };
  } finally {
    await machine.dispose();
  }
}
