// Tests that need /dev/kvm: skipped with a printed reason where it is missing, failed under CI=true.
import { missingPrerequisite } from './prerequisite';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { KernelModeProbe } from '../../lib/cli/kernel-mode-probe';
import { DEFAULT_KVM_PATH } from '../../lib/kvm/kvm';
import { warmVcpuWorkers } from '../../lib/runner/worker-pool';

export function kvmMissingReason(): string | undefined {
  try {
    fs.accessSync(DEFAULT_KVM_PATH, fs.constants.R_OK | fs.constants.W_OK);
    return undefined;
  } catch (error) {
    return `${DEFAULT_KVM_PATH} is not usable here (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
  }
}

/** Call from a mocha before() hook of a suite that needs KVM. */
export function requireKvm(context: Mocha.Context): void {
  const reason = kvmMissingReason();
  if (reason === undefined) return;
  missingPrerequisite(context, reason, 'KVM tests must run in CI: .ci/kvm-vm/run provides a /dev/kvm where there is none');
}

export const DEVICE_DIR = path.join(__dirname, '..', 'devices');
export const deviceModule = (name: string): string => path.join(DEVICE_DIR, `${name}.js`);

export function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/**
 * Open fds once the vCPU worker pool is whole: it refills some time after VMs started (earlier tests'
 * included), and each idle worker holds fds of its own, so a count taken mid-refill moves by itself.
 */
export async function settledFdCount(): Promise<number> {
  await warmVcpuWorkers();
  return openFdCount();
}

export function mappingCount(): number {
  return fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter(Boolean).length;
}

/** True when some mapping of this process overlaps [address, address + size). */
export function isMapped(address: bigint, size: number): boolean {
  const end = address + BigInt(size);
  return fs
    .readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .some((line) => {
      const range = line.split(' ')[0];
      if (range === undefined || range.length === 0) return false;
      const [start, stop] = range.split('-').map((hex) => BigInt(`0x${hex}`)) as [bigint, bigint];
      return start < end && address < stop;
    });
}

/**
 * Mappings a VM makes: vCPU run pages (anon_inode:kvm-vcpu) and guest RAM, told from Node's own by
 * size (anonymous read-write regions of exactly `guestRamBytes`; choose a size V8 and malloc do not
 * use, e.g. not 64 MiB, which is a malloc arena's). Node's own mappings (V8 heap pages, malloc arenas,
 * thread stacks) come and go by tens as worker threads start and end, so only these can be expected
 * back to their baseline exactly.
 */
export function vmMappingCount(guestRamBytes: number): number {
  return fs
    .readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((line) => {
      const [range, perms, , , , name] = line.split(/\s+/);
      if (range === undefined || range.length === 0) return false;
      if (line.includes('kvm')) return true;
      const [start, end] = range.split('-').map((hex) => parseInt(hex, 16)) as [number, number];
      return perms === 'rw-p' && (name === undefined || name === '') && end - start === guestRamBytes;
    }).length;
}

/**
 * Set when the tests run inside .ci/kvm-vm (KVM itself emulated by QEMU TCG), where a guest now and
 * then takes an interrupt with IF=0 and deadlocks (.ci/kvm-vm/README.md, Findings). Tests that boot
 * interrupt-heavy guests retry there; nowhere else.
 */
export function nestedEmulation(): string | undefined {
  return process.env.KVM_VM_EMULATED || undefined;
}

/** Lets a test retry under nested emulation (printed by the reporter); a no-op everywhere else. */
export function retryUnderEmulation(context: Mocha.Context, retries: number): void {
  const emulation = nestedEmulation();
  if (emulation === undefined) return;
  console.log(`      under ${emulation}: a guest that hangs is retried up to ${retries} times (.ci/kvm-vm/README.md)`);
  context.retries(retries);
}

/**
 * Why a Linux guest cannot be expected to boot all the way to user space here, or undefined where it
 * can: guest kernel mode emulated (nested PVM), or KVM itself emulated (.ci/kvm-vm), where Linux
 * guests stop getting timer interrupts at random points of their boot. Tests then check what the
 * kernel prints early and say why they stopped.
 */
export function fullLinuxBootUnavailable(probe: KernelModeProbe): string | undefined {
  if (!probe.native) return `guest kernel mode is emulated here (${probe.nsPerIteration.toFixed(0)} ns per loop iteration)`;
  const nested = nestedEmulation();
  if (nested !== undefined) return `under ${nested}, Linux guests stop getting timer interrupts at random points of their boot (.ci/kvm-vm/README.md, Findings)`;
  return undefined;
}
