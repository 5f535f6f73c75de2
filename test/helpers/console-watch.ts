// Watches a guest's serial console: collects what it prints, resolves once a pattern appears or the
// machine exits, and stops the machine and fails if the console stays silent too long (a hung guest
// must fail the test, not run into mocha's timeout with nothing to show).
import type { Readable } from 'node:stream';
import type { MachineExit } from '../../lib/runner/machine-exit';

/** A Machine, or the public API's VirtualMachine. */
export interface WatchedMachine {
  stop(): Promise<unknown>;
  readonly exited: Promise<MachineExit>;
}

export class ConsoleStallError extends Error {}

export interface ConsoleWatch {
  output: string;
  /** Set when the machine ended before the pattern (or when no pattern was given). */
  exit?: MachineExit;
}

export interface WatchOptions {
  /** Resolve as soon as the output matches (the machine keeps running; the caller stops it). */
  until?: RegExp;
  /** Silence that counts as a hang. */
  stallMs: number;
}

const TAIL_CHARS = 400;

export function watchConsole(machine: WatchedMachine, console: Readable, options: WatchOptions): Promise<ConsoleWatch> {
  return new Promise((resolve, reject) => {
    let output = '';
    let settled = false;
    let timer: NodeJS.Timeout;
    const finish = (result: ConsoleWatch | Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      console.off('data', onData);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        void machine.stop().finally(() => {
          const lastLine = output.trimEnd().split('\n').at(-1)?.trim() ?? '';
          finish(new ConsoleStallError(`the guest console was silent for ${options.stallMs / 1000} s after "${lastLine}"; its last output:\n${output.slice(-TAIL_CHARS)}`));
        });
      }, options.stallMs);
    };
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('latin1');
      arm();
      if (options.until?.test(output)) finish({ output });
    };
    console.on('data', onData);
    arm();
    void machine.exited.then((exit) => {
      // Let the console deliver what the guest printed last before reporting the exit.
      setImmediate(() => finish({ output, exit }));
    });
  });
}
