// `node-vmm run`: boots a kernel (default: the bundled guest) with its serial console attached to
// this terminal. On a TTY the terminal is put in raw mode (every key goes to the guest) and Ctrl-A x
// stops the VM; otherwise stdin is piped to the guest and the guest's output to stdout.
import type { DiskOptions, NetworkOptions, VsockOptions } from '../api/device-options';
import { createVm } from '../api/create-vm';
import type { VmConfig } from '../api/config';
import { readFirecrackerConfigFile } from '../api/firecracker/config-file';
import { describeVmExit, VmExit } from '../api/vm-exit';
import type { VirtualMachine } from '../api/virtual-machine';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, listOption, parseCommandArgs, stringOption, UsageError, type CliCommand, type CliOption, type OptionValues } from './command';
import { commandHelp } from './help';

export { UsageError };

export type RunArgs = { help: true } | { help: false; config: VmConfig };

function integerOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]+$/.test(value)) throw new UsageError(`--${name} must be a positive integer, got '${value}'`);
  return Number(value);
}

const RUN_OPTIONS: readonly CliOption[] = [
  { name: 'kernel', type: 'string', value: 'PATH', summary: 'bzImage or ELF vmlinux to boot (default: the bundled guest)' },
  { name: 'initrd', type: 'string', value: 'PATH', summary: 'initrd to load' },
  { name: 'cmdline', type: 'string', value: 'TEXT', summary: "kernel command line (default: '' for the bundled guest, 'console=ttyS0' otherwise)" },
  { name: 'mem', type: 'string', value: 'MIB', summary: 'guest RAM in MiB (default 128)' },
  { name: 'cpus', type: 'string', value: 'N', summary: 'number of vCPUs (default 1)' },
  { name: 'acpi', type: 'boolean', summary: 'describe the machine with ACPI tables (Linux then finds virtio devices, CPUs and\nCOM1 through them, and can power off)' },
  { name: 'disk', type: 'string', multiple: true, value: 'PATH[,ro]', summary: "a virtio-blk disk (repeatable; the first is /dev/vda); ',ro' makes it read-only" },
  { name: 'net', type: 'string', multiple: true, value: 'TAP[,mac=52:54:00:12:34:56]', summary: 'a virtio-net interface on a TAP device (repeatable; needs CAP_NET_ADMIN)' },
  {
    name: 'vsock',
    type: 'string',
    value: 'PATH[,cid=N]',
    summary: "a virtio-vsock device whose host side listens on the Unix socket PATH (cid 3 by\ndefault); host programs connect and write 'CONNECT <port>\\n'",
  },
  { name: 'rng', type: 'boolean', summary: "a virtio-rng device (from the host's CSPRNG)" },
  { name: 'config-file', type: 'string', value: 'PATH', summary: 'a Firecracker config file (boot-source, drives, machine-config, ...) instead of\nthe options above' },
];

/** Parses `run`'s arguments (after the word 'run'); throws UsageError for anything it cannot use. */
export function parseRunArgs(argv: string[]): RunArgs {
  const parsed = parseCommandArgs(RUN_COMMAND, argv);
  return parsed.help ? { help: true } : { help: false, config: runConfig(parsed.args.values) };
}

function runConfig(values: OptionValues): VmConfig {
  const configFile = stringOption(values, 'config-file');
  if (configFile !== undefined) {
    const others = Object.keys(values).filter((key) => key !== 'config-file' && values[key] !== undefined);
    if (others.length > 0) throw new UsageError(`--config-file describes the whole VM: drop --${others.join(', --')}`);
    return readFirecrackerConfigFile(configFile).toVmConfig();
  }
  const config: VmConfig = {};
  const kernel = stringOption(values, 'kernel');
  const initrd = stringOption(values, 'initrd');
  if (kernel !== undefined) config.kernel = kernel;
  if (initrd !== undefined) config.initrd = initrd;
  const cmdline = stringOption(values, 'cmdline') ?? (kernel !== undefined ? 'console=ttyS0' : undefined);
  if (cmdline !== undefined) config.cmdline = cmdline;
  const mem = integerOption('mem', stringOption(values, 'mem'));
  if (mem !== undefined) config.memoryMiB = mem;
  const cpus = integerOption('cpus', stringOption(values, 'cpus'));
  if (cpus !== undefined) config.vcpus = cpus;
  if (values.acpi === true) config.acpi = true;
  const disks = listOption(values, 'disk');
  const networks = listOption(values, 'net');
  const vsock = stringOption(values, 'vsock');
  if (disks !== undefined) config.disks = disks.map(parseDiskArg);
  if (networks !== undefined) config.networks = networks.map(parseNetArg);
  if (vsock !== undefined) config.vsock = parseVsockArg(vsock);
  if (values.rng === true) config.rng = true;
  return config;
}

/** `PATH[,FLAG|KEY=VALUE...]`: the value and its options. */
function splitDeviceArg(name: string, arg: string, known: readonly string[]): { value: string; flags: Map<string, string | true> } {
  const [value, ...rest] = arg.split(',');
  if (value === undefined || value.length === 0) throw new UsageError(`--${name} needs a value before its options, got '${arg}'`);
  const flags = new Map<string, string | true>();
  for (const option of rest) {
    const [key, ...parts] = option.split('=');
    if (key === undefined || !known.includes(key)) throw new UsageError(`--${name}: unknown option '${option}' (known: ${known.join(', ')})`);
    flags.set(key, parts.length === 0 ? true : parts.join('='));
  }
  return { value, flags };
}

function parseDiskArg(arg: string): DiskOptions {
  const { value, flags } = splitDeviceArg('disk', arg, ['ro']);
  if (flags.has('ro') && flags.get('ro') !== true) throw new UsageError(`--disk: 'ro' takes no value`);
  return flags.has('ro') ? { path: value, readOnly: true } : { path: value };
}

function parseNetArg(arg: string): NetworkOptions {
  const { value, flags } = splitDeviceArg('net', arg, ['mac']);
  const mac = flags.get('mac');
  if (mac === true) throw new UsageError(`--net: mac needs a value (mac=52:54:00:12:34:56)`);
  return mac === undefined ? { tap: value } : { tap: value, mac };
}

const DEFAULT_VSOCK_CID = 3;

function parseVsockArg(arg: string): VsockOptions {
  const { value, flags } = splitDeviceArg('vsock', arg, ['cid']);
  const cid = flags.get('cid');
  if (cid === true || (cid !== undefined && !/^[0-9]+$/.test(cid))) throw new UsageError(`--vsock: cid must be a number, got '${String(cid)}'`);
  return { socketPath: value, cid: cid === undefined ? DEFAULT_VSOCK_CID : Number(cid) };
}

/** The process exit code for how the VM ended. */
export function exitCodeFor(exit: VmExit): number {
  switch (exit.reason) {
    case 'exited':
      return exit.status ?? EXIT_FAILURE;
    case 'fault':
    case 'error':
      return EXIT_FAILURE;
    default:
      return EXIT_OK;
  }
}

const CTRL_A = 0x01;

/** Ctrl-A x detection over a raw keyboard stream: returns the bytes to forward, calls onEscape on Ctrl-A x. */
export function createEscapeFilter(onEscape: () => void): (chunk: Uint8Array) => Uint8Array {
  let pending = false;
  return (chunk) => {
    const out: number[] = [];
    for (const byte of chunk) {
      if (pending) {
        pending = false;
        if (byte === 0x78 /* x */ || byte === 0x58 /* X */) {
          onEscape();
          return Uint8Array.from(out);
        }
        out.push(CTRL_A);
        if (byte !== CTRL_A) out.push(byte);
      } else if (byte === CTRL_A) {
        pending = true;
      } else {
        out.push(byte);
      }
    }
    return Uint8Array.from(out);
  };
}

/** Output silence after which held input is released: short after a prompt-like line, longer otherwise. */
const PROMPT_IDLE_MS = 100;
const IDLE_MS = 5000;

/**
 * Writes input to the guest. Input that arrives while the guest boots can be lost (the bundled guest
 * resets its UART and sets up its interrupt controller after it first prints), so it is held until the
 * guest looks ready for it: its output has gone quiet after a line without a newline (a prompt), or
 * quiet for five seconds after anything.
 */
function guestInput(vm: VirtualMachine): (bytes: Uint8Array) => void {
  let held: Uint8Array[] | undefined = [];
  let timer: NodeJS.Timeout | undefined;
  const release = (): void => {
    vm.console.off('data', onOutput);
    for (const bytes of held ?? []) vm.console.write(bytes);
    held = undefined;
  };
  const onOutput = (chunk: Buffer): void => {
    clearTimeout(timer);
    const promptLike = chunk.length > 0 && chunk[chunk.length - 1] !== 0x0a;
    timer = setTimeout(release, promptLike ? PROMPT_IDLE_MS : IDLE_MS);
  };
  vm.console.on('data', onOutput);
  void vm.exited.then(() => clearTimeout(timer));
  return (bytes) => {
    if (held) held.push(bytes);
    else vm.console.write(bytes);
  };
}

function attachConsole(vm: VirtualMachine): () => void {
  const stdin = process.stdin;
  const forward = guestInput(vm);
  // A reader that went away (`node-vmm run | head -1`) stops the VM quietly instead of an EPIPE crash.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    vm.console.unpipe(process.stdout);
    void vm.stop();
  });
  vm.console.pipe(process.stdout, { end: false });
  if (stdin.isTTY) {
    stdin.setRawMode(true);
    let restored = false;
    const restore = (): void => {
      if (restored) return;
      restored = true;
      stdin.off('data', onData);
      try {
        stdin.setRawMode(false);
      } catch {
        // the terminal is gone
      }
      stdin.pause();
    };
    const filter = createEscapeFilter(() => {
      process.stderr.write('\r\nnode-vmm: Ctrl-A x: stopping the VM\r\n');
      void vm.stop();
    });
    const onData = (chunk: Buffer): void => {
      const bytes = filter(chunk);
      if (bytes.length > 0) forward(bytes);
    };
    stdin.on('data', onData);
    process.once('exit', restore); // even on an unexpected exit, never leave the terminal raw
    return restore;
  }
  const onData = (chunk: Buffer): void => forward(chunk);
  stdin.on('data', onData);
  return () => {
    stdin.off('data', onData);
    stdin.pause();
    stdin.destroy();
  };
}

/** Boots the VM with the console on this terminal; resolves with the process exit code. */
async function runVm(config: VmConfig): Promise<number> {
  const vm = await createVm(config);
  let detach: (() => void) | undefined;
  const onSignal = (): void => {
    void vm.stop();
  };
  try {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    detach = attachConsole(vm);
    await vm.start();
    const exit = await vm.exited;
    // Let the console hand over what the guest printed last.
    if (!vm.console.readableEnded) await new Promise<void>((resolve) => vm.console.once('end', resolve).once('close', resolve));
    if (exit.reason === 'fault' || exit.reason === 'error') process.stderr.write(`node-vmm: guest ${describeVmExit(exit).split('\n')[0]}\n`);
    return exitCodeFor(exit);
  } finally {
    detach?.();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await vm.dispose();
  }
}

export const RUN_COMMAND: CliCommand = {
  name: 'run',
  summary: 'boot a kernel (default: the bundled guest shell) on this terminal',
  usage: '[options]',
  description: `Boots a kernel with its serial console (COM1) attached to this terminal. With no options it boots
the bundled guest, which starts a shell ('help' lists its commands; 'exit N' ends the VM with status N).`,
  options: RUN_OPTIONS,
  example: "printf 'blk 0\\nrng\\nexit 0\\n' | node-vmm run --disk disk.img --rng",
  notes: `console: on a terminal every key goes to the guest (raw mode); press Ctrl-A then x to stop the VM
(Ctrl-A Ctrl-A sends a Ctrl-A). Without a terminal, stdin is piped to the guest.
exit status: the guest's status for 'exit N', ${EXIT_OK} when it resets, shuts down or is stopped, ${EXIT_FAILURE} on a fault
or error (with a one-line message on stderr), ${EXIT_USAGE} for bad arguments.
`,
  run: async ({ values }) => runVm(runConfig(values)),
};

export const RUN_USAGE = commandHelp(RUN_COMMAND);
