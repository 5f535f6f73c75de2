// The C baseline shared by the benchmarks: c-loop.c runs the out-loop test guest with bare KVM
// ioctls and reports elapsed_ns. Built with the system gcc into a temporary file per process.
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { GUEST_OUTPUT_DIR, PACKAGE_ROOT } from '../../test/guests/build';

const SOURCE = path.join(PACKAGE_ROOT, 'bench', 'exit-cost', 'c-loop.c');
export const C_LOOP_GUEST = path.join(GUEST_OUTPUT_DIR, 'out-loop.bin');

/** Compiles the C loop; returns the binary's path (the caller removes it). */
export function buildCLoop(): string {
  const output = path.join(os.tmpdir(), `node-vmm-c-loop-${process.pid}`);
  execFileSync('gcc', ['-O2', '-o', output, SOURCE], { stdio: 'inherit' });
  return output;
}

/** Nanoseconds the C loop needs for `iterations` port-I/O exits (including its fixed costs). */
export function timeC(binary: string, iterations: number): number {
  const out = execFileSync(binary, [C_LOOP_GUEST, String(iterations)], { encoding: 'utf8' });
  const match = /elapsed_ns (\d+)/.exec(out);
  if (!match) throw new Error(`unexpected C loop output: ${out}`);
  return Number(match[1]);
}

/** Nanoseconds per exit, from the difference between two iteration counts (fixed costs cancel). */
export function cNsPerExit(binary: string, small: number, large: number): number {
  return (timeC(binary, large) - timeC(binary, small)) / (large - small);
}
