#!/usr/bin/env node
// node-vmm command line: `check` (is KVM usable here?), `run` (boot a kernel on this terminal) and
// `demo` (run a tiny guest).
import { VmmError } from '../kvm/errors';
import { checkHost, checkKernelMode } from './check';
import { runDemo } from './demo';
import { runCommand } from './run';
import { serveCommand } from './serve';

const USAGE = `usage: node-vmm <command>

commands:
  check   report whether KVM is usable here: /dev/kvm access, API version, capabilities, and
          whether guest kernel mode runs natively or emulated (a short timed probe)
  run     boot a kernel (default: the bundled guest shell) on this terminal; 'run --help' for options
  serve   serve Firecracker's REST API for one VM on a Unix socket; 'serve --help' for options
  demo    run a few bytes of 64-bit guest code that print through a TypeScript device
`;

async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  switch (command) {
    case 'check': {
      const lines = checkHost();
      if (lines.every((l) => l.ok)) lines.push(await checkKernelMode());
      for (const line of lines) {
        console.log(`${line.ok ? 'ok  ' : 'FAIL'} ${line.what}`);
        if (line.advice) console.log(`     ${line.advice}`);
      }
      return lines.every((l) => l.ok) ? 0 : 1;
    }
    case 'run':
      return runCommand(argv.slice(1));
    case 'serve':
      return serveCommand(argv.slice(1));
    case 'demo': {
      const started = process.hrtime.bigint();
      const exit = await runDemo((bytes) => process.stdout.write(bytes));
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      console.log(`guest ended: ${exit.reason} (${exit.vcpus[0]?.exitCounts.IO ?? 0} port exits, ${ms.toFixed(1)} ms from create to exit)`);
      return exit.reason === 'halted' ? 0 : 1;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`node-vmm: unknown command '${command}'\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof VmmError ? `node-vmm: ${error.message}` : error);
    process.exitCode = 1;
  },
);
