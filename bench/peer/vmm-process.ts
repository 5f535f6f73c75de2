// bench/peer runs each VMM as a process of its own and measures it from outside, the same way for
// both: wall time from spawn (to a console line, or to exit), the CPU time of the process and all its
// threads (the wrapper shell's cutime + cstime from /proc/$$/stat once it has reaped the VMM), and
// memory as PSS from /proc/PID/smaps_rollup (pages shared between processes counted once in a sum).
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type { Sample } from '../guest-bench';

/** What bench/peer/node-vmm-vm.js prints once all its VMs are at their prompt. */
export const VMS_READY = 'vms ready';

const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
/** Runs "$@", then reports the CPU its children used (fields 16 and 17 of its own stat) on stderr. */
const CPU_WRAPPER = ['sh', '-c', '"$@"; status=$?; read -r stat < /proc/$$/stat; set -- $stat; echo "peer-cpu ${16} ${17}" >&2; exit $status', 'sh'];
const RUN_TIMEOUT_MS = 300_000;

export interface Finished extends Sample {
  code: number | null;
  output: string;
  stderr: string;
}

function collect(child: ChildProcess): { output: () => string; stderr: () => string } {
  let output = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('latin1')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('latin1')));
  return { output: () => output, stderr: () => stderr };
}

function closed(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
}

/**
 * Runs `prefix` + the wrapper + `argv` to its end: wall time from spawn, and the CPU time of the
 * VMM process (all threads). `prefix` is e.g. `ip netns exec NAME`.
 */
export async function runToExit(argv: string[], prefix: string[] = [], whileRunning?: () => () => void): Promise<Finished> {
  const command = [...prefix, ...CPU_WRAPPER, ...argv];
  const started = process.hrtime.bigint();
  const child = spawn(command[0] as string, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const streams = collect(child);
  const stop = whileRunning?.();
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  try {
    const code = await closed(child);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const cpu = /peer-cpu (\d+) (\d+)/.exec(streams.stderr());
    if (cpu === null) throw new Error(`${argv[0]} ended without a CPU report (code ${code}):\n${streams.stderr().slice(-600)}`);
    const cpuMs = ((Number(cpu[1]) + Number(cpu[2])) * 1000) / CLOCK_TICKS_PER_SECOND;
    return { ms, cpuMs, code, output: streams.output(), stderr: streams.stderr() };
  } finally {
    clearTimeout(timer);
    stop?.();
  }
}

/** Spawns `argv` and resolves with the milliseconds until its stdout contains `line`; then kills it. */
export async function timeToLine(argv: string[], line: string): Promise<number> {
  const started = process.hrtime.bigint();
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  const end = closed(child);
  try {
    return await untilLine(child, line, () => Number(process.hrtime.bigint() - started) / 1e6);
  } finally {
    child.kill('SIGKILL');
    await end;
  }
}

/** Resolves with `then()` once the child's stdout has shown `line`; rejects if it ends first. */
export function untilLine<T>(child: ChildProcess, line: string, then: () => T): Promise<T> {
  return new Promise((resolve, reject) => {
    let output = '';
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`no "${line}" from ${child.spawnfile} in ${RUN_TIMEOUT_MS} ms:\n${output.slice(-400)}`)), RUN_TIMEOUT_MS);
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('latin1')));
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('latin1');
      if (output.includes(line)) {
        clearTimeout(timer);
        resolve(then());
      }
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`${child.spawnfile} ended (code ${code}) before "${line}":\n${output.slice(-400)}\n${stderr.slice(-400)}`));
    });
  });
}

/** Proportional set size of a process, in MiB. */
export function pssMiB(pid: number): number {
  const match = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  if (match === null) throw new Error(`no Pss in /proc/${pid}/smaps_rollup`);
  return Number(match[1]) / 1024;
}

/**
 * Starts the processes `commands` gives, waits until each has printed `line`, and returns the sum of
 * their PSS; kills them all afterwards.
 */
export async function pssOfRunning(commands: string[][], line: string): Promise<number> {
  const children = commands.map((argv) => spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] }));
  const ends = children.map((child) => closed(child));
  try {
    await Promise.all(children.map((child) => untilLine(child, line, () => undefined)));
    return children.reduce((sum, child) => sum + pssMiB(child.pid as number), 0);
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(ends);
  }
}
