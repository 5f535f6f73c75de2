import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { createLinuxMachine } from '../../lib/boot/linux-machine';
import { parseBzImage } from '../../lib/boot/bzimage';
import { bzImagePayload, payloadCompression } from '../../lib/boot/bzimage-payload';
import { execFileSync } from 'node:child_process';
import { formatE820 } from '../../lib/boot/e820';
import { KernelModeProbe, probeKernelMode } from '../../lib/cli/kernel-mode-probe';
import { buildCpio } from '../helpers/cpio';
import { watchConsole } from '../helpers/console-watch';
import { fullLinuxBootUnavailable, requireKvm, retryUnderEmulation } from '../helpers/kvm';
import { missingPrerequisite, notOnThisHost } from '../helpers/prerequisite';

const BOOT_DIR = '/boot';
const CMDLINE = 'console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=k panic=-1 nomodule pci=off i8042.noaux node-vmm-test=1';
const MiB = 1024 * 1024;
/** A whole line after the last BIOS-e820 line: the kernel has printed all of the map. */
const E820_PRINTED = /BIOS-e820:[^\n]*\n(?![^\n]*BIOS-e820)[^\n]*\n/;
/** The MP-table lines of setup_arch(), long before the second CPU is started. */
const MPTABLE_READ = /^(?=[\s\S]*found SMP MP-table)(?=[\s\S]*IOAPIC\[0\])(?=[\s\S]*smpboot: Allowing \d+ CPUs)/;
/** The same from the ACPI MADT. */
const MADT_READ = /^(?=[\s\S]*Using ACPI \(MADT\) for SMP configuration)(?=[\s\S]*IOAPIC\[0\])(?=[\s\S]*smpboot: Allowing \d+ CPUs)/;
const ALL_CPUS_UP = /smp: Brought up \d+ nodes?, \d+ CPUs?/;
/**
 * Where guest kernel mode is emulated (nested PVM) node-vmm decompresses the kernel on the host, and
 * the kernel's first line comes ~20 s after entry; under .ci/kvm-vm the whole boot takes ~25 s and
 * prints all along. A minute of silence is a hang.
 */
const STALL_MS = 60_000;
const ATTEMPT_TIMEOUT_MS = 10 * 60_000;
const RETRIES_UNDER_EMULATION = 2;
const BUSYBOX = '/bin/busybox';
const SHELL_CMDLINE = 'console=ttyS0 reboot=k panic=-1 nomodule pci=off i8042.noaux rdinit=/init';
const SHELL_READY = 'node-vmm-initramfs-ready';
const INIT_SCRIPT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
echo ${SHELL_READY}
exec /bin/busybox sh
`;

/** rootfs: busybox (static, from Debian's busybox-static), /init and /dev/console for its stdio. */
function busyboxInitramfs(): Buffer {
  return buildCpio([
    { kind: 'dir', path: 'bin' },
    { kind: 'dir', path: 'dev' },
    { kind: 'char', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'file', path: 'bin/busybox', data: fs.readFileSync(BUSYBOX), mode: 0o755 },
    { kind: 'file', path: 'init', data: Buffer.from(INIT_SCRIPT), mode: 0o755 },
  ]);
}

/**
 * The kernel to boot where guest kernel mode is emulated: createLinuxMachine decompresses gzip and LZ4
 * bzImages itself; an xz one (Debian's generic kernel) is unpacked here with xz-utils, because its own
 * decompressor would run emulated for over five minutes. Either way the kernel's own code boots.
 */
function kernelForEmulatedKernelMode(path: string): Uint8Array {
  const file = fs.readFileSync(path);
  const image = parseBzImage(file);
  const payload = bzImagePayload(image);
  if (payloadCompression(payload) !== 'xz') return file;
  return execFileSync('xz', ['--decompress', '--stdout', '--single-stream'], { input: payload, maxBuffer: 512 * MiB });
}

function debianKernels(): string[] {
  return fs.existsSync(BOOT_DIR) ? fs.readdirSync(BOOT_DIR).filter((f) => /^vmlinuz-.*-amd64$/.test(f)).sort() : [];
}

/** The cloud kernel (what the issue asks for) where installed, else the generic one. */
function debianKernel(): string | undefined {
  const kernels = debianKernels();
  const preferred = kernels.find((f) => f.includes('cloud')) ?? kernels.at(-1);
  return preferred === undefined ? undefined : `${BOOT_DIR}/${preferred}`;
}

/**
 * A kernel that reads MP tables: the cloud flavour is built without CONFIG_X86_MPPARSE (it only
 * knows ACPI's MADT, which node-vmm does not write yet), so SMP needs the generic linux-image-amd64.
 */
function kernelReadingMpTables(): string | undefined {
  const found = debianKernels().find((f) => {
    const config = `${BOOT_DIR}/config-${f.replace(/^vmlinuz-/, '')}`;
    return fs.existsSync(config) && /^CONFIG_X86_MPPARSE=y$/m.test(fs.readFileSync(config, 'utf8'));
  });
  return found === undefined ? undefined : `${BOOT_DIR}/${found}`;
}

describe('an unmodified Debian kernel (real KVM)', function () {
  let kernelPath: string | undefined;
  let probe: KernelModeProbe;
  /** Set where a full boot cannot be expected: each test then stops at early boot and says why. */
  let earlyStop: string | undefined;
  before(async function () {
    requireKvm(this);
    kernelPath = debianKernel();
    if (kernelPath === undefined) missingPrerequisite(this, 'no /boot/vmlinuz-*-amd64', 'apt-get install linux-image-cloud-amd64');
    probe = await probeKernelMode();
    earlyStop = fullLinuxBootUnavailable(probe);
    if (earlyStop !== undefined) console.log(`      ${earlyStop}: each boot stops at early boot`);
  });

  it('prints its banner, the exact command line and our E820 map, then (given a full boot) resets on its panic', async function () {
    this.timeout(ATTEMPT_TIMEOUT_MS);
    retryUnderEmulation(this, RETRIES_UNDER_EMULATION);
    const emulatedKernelMode = !probe.native;
    const { machine, console: serial, loaded, cmdline, bootedFormat } = createLinuxMachine({
      kernel: fs.readFileSync(kernelPath as string),
      cmdline: CMDLINE,
      memorySize: 256 * MiB,
      emulatedKernelMode,
    });
    try {
      await machine.start();
      const watched = await watchConsole(machine, serial, { stallMs: STALL_MS, ...(earlyStop !== undefined ? { until: E820_PRINTED } : {}) });
      const { output } = watched;
      assert.match(output, /Linux version \d+\.\d+/, 'banner');
      assert.ok(cmdline.startsWith(CMDLINE), 'the command line we gave comes first');
      assert.ok(output.includes(`Command line: ${cmdline}`), 'the command line we passed, echoed');
      const printed = output.split('\n').map((line) => /BIOS-e820: (\[mem .*)$/.exec(line.trim())?.[1]).filter((line): line is string => line !== undefined);
      const built = formatE820(loaded.e820).map((line) => line.replace(/^BIOS-e820: /, ''));
      assert.deepEqual(printed, built, 'E820 as printed by the kernel = the map we built');
      assert.equal(bootedFormat, emulatedKernelMode ? 'elf' : 'bzimage', emulatedKernelMode ? 'decompressed on the host' : 'booted as a bzImage');
      if (earlyStop !== undefined) {
        assert.equal(watched.exit, undefined, `the kernel ended during early boot: ${watched.exit?.reason}`);
        console.log(`      stopped after the E820 map (${earlyStop})`);
        await machine.stop();
        assert.equal((await machine.exited).reason, 'stopped');
        return;
      }
      // Without a root filesystem it panics; panic=-1 with reboot=k resets through the i8042.
      assert.ok(/Kernel panic|VFS: Unable to mount root/.test(output), 'reached the root mount');
      assert.equal(watched.exit?.reason, 'reset');
    } finally {
      await machine.dispose();
    }
  });

  it('with 2 vCPUs finds our MP table, lists both CPUs and the IOAPIC, and (given a full boot) brings up both', async function () {
    this.timeout(ATTEMPT_TIMEOUT_MS);
    const smpKernel = kernelReadingMpTables();
    if (smpKernel === undefined) missingPrerequisite(this, 'no kernel with CONFIG_X86_MPPARSE=y in /boot (the cloud kernel lacks it)', 'apt-get install linux-image-amd64');
    retryUnderEmulation(this, RETRIES_UNDER_EMULATION);
    const emulatedKernelMode = !probe.native;
    const { machine, console: serial } = createLinuxMachine({
      kernel: emulatedKernelMode ? kernelForEmulatedKernelMode(smpKernel) : fs.readFileSync(smpKernel),
      cmdline: CMDLINE,
      memorySize: 256 * MiB,
      vcpus: 2,
      emulatedKernelMode,
    });
    try {
      await machine.start();
      const { output, exit } = await watchConsole(machine, serial, { until: earlyStop === undefined ? ALL_CPUS_UP : MPTABLE_READ, stallMs: STALL_MS });
      assert.equal(exit, undefined, `the kernel ended before it got there: ${exit?.reason} ${exit?.error?.message ?? ''}`);
      assert.match(output, /found SMP MP-table at \[mem 0x0009fc00-0x0009fc0f\]/, 'MP table found where we put it');
      assert.match(output, /smpboot: Allowing 2 CPUs/, 'two processors listed');
      assert.match(output, /IOAPIC\[0\]: apic_id \d+, version \d+, address 0xfec00000, GSI 0-23/, 'the IOAPIC entry');
      if (earlyStop === undefined) assert.match(output, /smp: Brought up 1 node, 2 CPUs/);
      else console.log(`      stopped once the MP table was read (${earlyStop}); the bundled guest's 2-vCPU self-test starts its second CPU from the same table`);
      await machine.stop();
      assert.equal((await machine.exited).reason, 'stopped');
    } finally {
      await machine.dispose();
    }
  });

  it('with ACPI and 2 vCPUs, the cloud kernel reads our RSDP, XSDT, FACP, DSDT and MADT and (given a full boot) brings up both CPUs', async function () {
    this.timeout(ATTEMPT_TIMEOUT_MS);
    retryUnderEmulation(this, RETRIES_UNDER_EMULATION);
    const emulatedKernelMode = !probe.native;
    const { machine, console: serial } = createLinuxMachine({
      kernel: fs.readFileSync(kernelPath as string),
      cmdline: CMDLINE,
      memorySize: 256 * MiB,
      vcpus: 2,
      acpi: true,
      emulatedKernelMode,
    });
    try {
      await machine.start();
      const { output, exit } = await watchConsole(machine, serial, { until: earlyStop === undefined ? ALL_CPUS_UP : MADT_READ, stallMs: STALL_MS });
      assert.equal(exit, undefined, `the kernel ended before it got there: ${exit?.reason} ${exit?.error?.message ?? ''}`);
      assert.match(output, /ACPI: RSDP 0x00000000000E0000 000024 \(v02 NODEVM\)/, 'the RSDP where we put it');
      for (const table of ['XSDT', 'FACP', 'DSDT', 'APIC']) assert.match(output, new RegExp(`ACPI: ${table} 0x00000000000E0[0-9A-F]{3} [0-9A-F]{6} \\(v0\\d NODEVM NVMM${table}`), table);
      assert.doesNotMatch(output, /ACPI BIOS Error|ACPI Error|Invalid checksum/i, 'no table rejected');
      assert.match(output, /smpboot: Allowing 2 CPUs/, 'both processors from the MADT');
      if (earlyStop === undefined) assert.match(output, /smp: Brought up 1 node, 2 CPUs/);
      else console.log(`      stopped once the MADT was read (${earlyStop})`);
      await machine.stop();
      assert.equal((await machine.exited).reason, 'stopped');
    } finally {
      await machine.dispose();
    }
  });

  it('runs a busybox initramfs shell that answers a typed command, given a full boot', async function () {
    this.timeout(ATTEMPT_TIMEOUT_MS);
    if (earlyStop !== undefined) {
      notOnThisHost(this, `${earlyStop}, so Linux does not reliably reach user space here (the tests above stop at early boot)`);
    }
    if (!fs.existsSync(BUSYBOX)) missingPrerequisite(this, `no ${BUSYBOX}`, 'apt-get install busybox-static');
    retryUnderEmulation(this, RETRIES_UNDER_EMULATION);
    const { machine, console: serial } = createLinuxMachine({
      kernel: fs.readFileSync(kernelPath as string),
      initrd: busyboxInitramfs(),
      cmdline: SHELL_CMDLINE,
      memorySize: 256 * MiB,
    });
    try {
      await machine.start();
      const booted = await watchConsole(machine, serial, { until: new RegExp(SHELL_READY), stallMs: STALL_MS });
      assert.equal(booted.exit, undefined, `the guest ended before its shell: ${booted.exit?.reason}\n${booted.output.slice(-400)}`);
      const answered = watchConsole(machine, serial, { until: /answer=42/, stallMs: STALL_MS });
      serial.write('echo answer=$((6*7))\n');
      const { exit } = await answered;
      assert.equal(exit, undefined, 'the shell answered');
      const rebooted = watchConsole(machine, serial, { stallMs: STALL_MS });
      serial.write('reboot -f\n');
      assert.equal((await rebooted).exit?.reason, 'reset');
    } finally {
      await machine.dispose();
    }
  });
});
