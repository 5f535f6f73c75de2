// The bundled guest under QEMU (Debian's qemu-system-x86, 7.2 here), for the KVM test that boots it
// there and for bench/peer. One fixed machine: QEMU's microvm with KVM, booting the guest's PVH ELF.
//   acpi=off: QEMU 7.2's microvm lists its virtio-mmio devices on the kernel command line
//             (virtio_mmio.device=512@0xfeb00000+512n:5+n) only without ACPI; with ACPI they are in the
//             DSDT alone, which the bundled guest does not read.
//   -global virtio-mmio.force-legacy=false: virtio-mmio version 2 (modern), as node-vmm's devices.
//   isa-debug-exit at 0x501 (4 ports: the guest writes its status with a 32-bit OUT) ends QEMU with
//             exit code (status << 1) | 1; i8042: microvm has none, the self-test checks one.
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { missingPrerequisite } from './prerequisite';

export const QEMU_BINARY = 'qemu-system-x86_64';
export const QEMU_INSTALL = 'apt-get install -y qemu-system-x86';
export const QEMU_MACHINE = ['-M', 'microvm,x-option-roms=off,acpi=off', '-accel', 'kvm', '-cpu', 'host,-arch-capabilities'];
const QEMU_BOARD = ['-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-global', 'virtio-mmio.force-legacy=false'];
const QEMU_DEBUG_EXIT = ['-device', 'isa-debug-exit,iobase=0x501,iosize=4', '-device', 'i8042'];

export function qemuMissingReason(): string | undefined {
  try {
    execFileSync(QEMU_BINARY, ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return `no ${QEMU_BINARY}`;
  }
}

/** Call first in a test that needs QEMU: skips with the reason where it is missing, fails under CI=true. */
export function requireQemu(context: Mocha.Context): void {
  const reason = qemuMissingReason();
  if (reason !== undefined) missingPrerequisite(context, reason, QEMU_INSTALL);
}

export interface QemuGuest {
  kernel: string;
  cmdline: string;
  memoryMiB: number;
  rng?: boolean;
  /** A raw disk image: virtio-blk with cache=writeback,aio=threads, no iothread. */
  disk?: string;
  /** A TAP: by name (QEMU opens it) or as an fd number QEMU inherits. */
  tap?: { name: string } | { fd: number };
}

/** QEMU's arguments for `guest`, in a fixed order (printed by bench/peer). */
export function qemuArgs(guest: QemuGuest): string[] {
  const args = [...QEMU_MACHINE, '-m', `${guest.memoryMiB}M`, ...QEMU_BOARD, ...QEMU_DEBUG_EXIT];
  if (guest.rng === true) args.push('-device', 'virtio-rng-device');
  if (guest.disk !== undefined) {
    args.push('-drive', `file=${guest.disk},format=raw,if=none,id=disk0,cache=writeback,aio=threads`, '-device', 'virtio-blk-device,drive=disk0');
  }
  if (guest.tap !== undefined) {
    const tap = 'fd' in guest.tap ? `fd=${guest.tap.fd}` : `ifname=${guest.tap.name},script=no,downscript=no`;
    args.push('-netdev', `tap,id=net0,${tap},vhost=off`, '-device', 'virtio-net-device,netdev=net0,mac=52:54:00:00:be:02');
  }
  args.push('-kernel', guest.kernel, '-append', guest.cmdline);
  return args;
}

/** The guest's debug-exit status from QEMU's exit code, or undefined when QEMU ended some other way. */
export function debugExitStatus(code: number | null): number | undefined {
  return code !== null && (code & 1) === 1 ? code >> 1 : undefined;
}

export interface QemuRun {
  process: ChildProcess;
  /** Everything the guest printed on COM1 so far. */
  output(): string;
  /** Resolves when QEMU ends: its exit code (null if killed) and what it printed on stderr. */
  exited: Promise<{ code: number | null; stderr: string }>;
  kill(): void;
}

/**
 * Starts QEMU, or `wrap` followed by QEMU's command line. `fds` are inherited as fds 3, 4, ... (a TAP
 * given as { fd: 3 }).
 */
export function startQemu(guest: QemuGuest, options: { fds?: number[]; wrap?: string[] } = {}): QemuRun {
  const command = [...(options.wrap ?? []), QEMU_BINARY, ...qemuArgs(guest)];
  const child = spawn(command[0] as string, command.slice(1), { stdio: ['pipe', 'pipe', 'pipe', ...(options.fds ?? [])] });
  let output = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('latin1')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('latin1')));
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
  });
  return {
    process: child,
    output: () => output,
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
