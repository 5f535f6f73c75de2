// bench/peer: node-vmm against QEMU on the same guest (the bundled one: its bzImage in node-vmm, its
// PVH ELF in QEMU's microvm machine), the same bench modes, in the same run. Each VMM runs as its own
// process (`node-vmm run` and `qemu-system-x86_64`) and is measured from outside the same way
// (bench/peer/vmm-process.ts):
//   boot            spawn `node-vmm run` / `qemu-system-x86_64` to the guest's ready line (ms, median)
//   pio-exit        µs per port-I/O exit: nodevmm.bench=pio (OUTs to port 0x80 from ring 0, a port
//                   neither VMM claims), spawn to exit at two counts, the difference
//   blk-*-depth-D   MiB/s of 64 KiB sequential reads / writes over 4 MiB of a page-cached file
//   net-tx, net-rx  frames/s at depth 32 through a TAP bridged in a network namespace
//   memory-*        PSS (smaps_rollup) of the first VM at its shell prompt, and per extra VM
//                   (node-vmm: more VMs in one process, bench/peer/node-vmm-vm.ts; QEMU: one process
//                   per VM)
// Throughput rows: medians of three at two counts, the counts' difference (start-up cancels). The CPU
// time of the VMM process (all threads) per unit is printed beside each. Prints one
// "peer <row> ratio R (node-vmm / QEMU, higher|lower is better)" line per row and last
// "peer rows ahead N of M". Needs root (TAPs, namespaces), /dev/kvm and qemu-system-x86_64.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BUNDLED_GUEST_PROMPT, BUNDLED_GUEST_READY_MARKER, bundledGuestElfPath } from '../../lib/guest/bundled';
import { qemuArgs, QemuGuest, QEMU_BINARY, QEMU_INSTALL, qemuMissingReason, debugExitStatus } from '../../test/helpers/qemu';
import { measureRate, Rate } from '../guest-bench';
import { BridgedTaps, feedGuestSide } from '../net/taps';
import { median } from '../stats';
import { Finished, pssOfRunning, runToExit, timeToLine, VMS_READY } from './vmm-process';

const MEMORY_MIB = 128;
const BOOT_RUNS = Number(process.env.PEER_BOOT_RUNS ?? 7);
const EXTRA_VMS = Number(process.env.PEER_EXTRA_VMS ?? 4);
const PIO = [Number(process.env.PEER_PIO_SMALL ?? 20_000), Number(process.env.PEER_PIO_LARGE ?? 120_000)] as const;
const BLK = [Number(process.env.PEER_BLK_SMALL ?? 2000), Number(process.env.PEER_BLK_LARGE ?? 20_000)] as const;
const NET = [Number(process.env.PEER_NET_SMALL ?? 5000), Number(process.env.PEER_NET_LARGE ?? 50_000)] as const;
const NET_DEPTH = 32;
const BLK_REQUEST_BYTES = 64 * 1024;
const BLK_WINDOW_BYTES = 4 * 1024 * 1024;
const MiB = 1024 * 1024;

const CLI = path.join(__dirname, '..', '..', 'lib', 'cli', 'main.js');
const RUNNER = path.join(__dirname, 'node-vmm-vm.js');

type Better = 'higher' | 'lower';
interface Row {
  name: string;
  nodeVmm: number;
  qemu: number;
  better: Better;
  unit: string;
}

const rows: Row[] = [];

function report(row: Row, detail = ''): void {
  rows.push(row);
  const ratio = row.nodeVmm / row.qemu;
  console.log(`${row.name}: node-vmm ${row.nodeVmm.toFixed(2)} ${row.unit}, QEMU ${row.qemu.toFixed(2)} ${row.unit}${detail}`);
  console.log(`peer ${row.name} ratio ${ratio.toFixed(3)} (node-vmm / QEMU, ${row.better} is better)`);
}

const ahead = (row: Row): boolean => (row.better === 'higher' ? row.nodeVmm > row.qemu : row.nodeVmm < row.qemu);

function benchCmdline(bench: string, count: number, depth = 1): string {
  return `nodevmm.mode=bench nodevmm.bench=${bench} nodevmm.count=${count} nodevmm.depth=${depth}`;
}

function qemuCommand(guest: Omit<QemuGuest, 'kernel' | 'memoryMiB'>): string[] {
  return [QEMU_BINARY, ...qemuArgs({ kernel: bundledGuestElfPath(), memoryMiB: MEMORY_MIB, ...guest })];
}

const nodeVmmRun = (cmdline: string, devices: string[] = []): string[] => [process.execPath, CLI, 'run', '--mem', String(MEMORY_MIB), ...(cmdline ? ['--cmdline', cmdline] : []), ...devices];

/** A bench run to its end; throws unless the guest moved everything and exited 0. */
function checked(vmm: 'node-vmm' | 'QEMU', run: Finished, count: number): Finished {
  const status = vmm === 'QEMU' ? debugExitStatus(run.code) : run.code;
  if (status !== 0 || !new RegExp(`# bench \\S+: ${count} of ${count} `).test(run.output)) {
    throw new Error(`${vmm} run ended with code ${run.code} (guest status ${status}):\n${run.output.slice(-600)}\n${run.stderr.slice(-600)}`);
  }
  return run;
}

async function bootRow(): Promise<void> {
  const times: Record<'node-vmm' | 'QEMU', number[]> = { 'node-vmm': [], QEMU: [] };
  await timeToLine(nodeVmmRun(''), BUNDLED_GUEST_READY_MARKER); // warm-up: page cache
  await timeToLine(qemuCommand({ cmdline: '' }), BUNDLED_GUEST_READY_MARKER);
  for (let i = 0; i < BOOT_RUNS; i++) {
    times['node-vmm'].push(await timeToLine(nodeVmmRun(''), BUNDLED_GUEST_READY_MARKER));
    times.QEMU.push(await timeToLine(qemuCommand({ cmdline: '' }), BUNDLED_GUEST_READY_MARKER));
  }
  report({ name: 'boot', nodeVmm: median(times['node-vmm']), qemu: median(times.QEMU), better: 'lower', unit: 'ms' }, ` (spawn to "${BUNDLED_GUEST_READY_MARKER}", median of ${BOOT_RUNS})`);
}

async function pioRow(): Promise<void> {
  const nodeVmm = await measureRate(PIO[0], PIO[1], async (n) => checked('node-vmm', await runToExit(nodeVmmRun(benchCmdline('pio', n))), n));
  const qemu = await measureRate(PIO[0], PIO[1], async (n) => checked('QEMU', await runToExit(qemuCommand({ cmdline: benchCmdline('pio', n) })), n));
  const us = (rate: Rate): number => 1e6 / rate.perSecond;
  report(
    { name: 'pio-exit', nodeVmm: us(nodeVmm), qemu: us(qemu), better: 'lower', unit: 'µs per exit' },
    ` (${PIO[0]} vs ${PIO[1]} OUTs to port 0x80 from guest ring 0; CPU per exit: node-vmm ${(nodeVmm.cpuMsPerUnit * 1000).toFixed(1)} µs, QEMU ${(qemu.cpuMsPerUnit * 1000).toFixed(1)} µs)`,
  );
}

async function blkRows(disk: string): Promise<void> {
  for (const direction of ['read', 'write'] as const) {
    for (const depth of [1, 32]) {
      const cmdline = (n: number): string => benchCmdline(`blk-${direction}`, n, depth);
      const nodeVmm = await measureRate(BLK[0], BLK[1], async (n) => checked('node-vmm', await runToExit(nodeVmmRun(cmdline(n), ['--disk', disk])), n));
      const qemu = await measureRate(BLK[0], BLK[1], async (n) => checked('QEMU', await runToExit(qemuCommand({ cmdline: cmdline(n), disk })), n));
      const mib = (rate: Rate): number => (rate.perSecond * BLK_REQUEST_BYTES) / MiB;
      const cpu = (rate: Rate): string => ((rate.cpuMsPerUnit * MiB) / BLK_REQUEST_BYTES).toFixed(2);
      report(
        { name: `blk-${direction}-depth-${depth}`, nodeVmm: mib(nodeVmm), qemu: mib(qemu), better: 'higher', unit: 'MiB/s' },
        ` (64 KiB requests, ${depth} in flight, ${BLK[0]} vs ${BLK[1]}; CPU per MiB: node-vmm ${cpu(nodeVmm)} ms, QEMU ${cpu(qemu)} ms)`,
      );
    }
  }
}

async function netRows(taps: BridgedTaps): Promise<void> {
  for (const direction of ['tx', 'rx'] as const) {
    const cmdline = (n: number): string => benchCmdline(`net-${direction}`, n, NET_DEPTH);
    const feeding = direction === 'rx' ? () => feedGuestSide(taps).stop : undefined;
    const nodeVmm = await measureRate(NET[0], NET[1], async (n) => checked('node-vmm', await runToExit(nodeVmmRun(cmdline(n), ['--net', taps.guestSideName]), taps.exec, feeding), n));
    const qemu = await measureRate(NET[0], NET[1], async (n) => checked('QEMU', await runToExit(qemuCommand({ cmdline: cmdline(n), tap: { name: taps.guestSideName } }), taps.exec, feeding), n));
    const cpu = (rate: Rate): string => (rate.cpuMsPerUnit * 1000).toFixed(2);
    report(
      { name: `net-${direction}`, nodeVmm: nodeVmm.perSecond, qemu: qemu.perSecond, better: 'higher', unit: 'frames/s' },
      ` (1514-byte frames, ${NET_DEPTH} in flight, ${NET[0]} vs ${NET[1]}; CPU per frame: node-vmm ${cpu(nodeVmm)} µs, QEMU ${cpu(qemu)} µs)`,
    );
  }
}

async function memoryRows(): Promise<void> {
  const nodeVmm = async (vms: number): Promise<number> => pssOfRunning([[process.execPath, RUNNER, '--mem', String(MEMORY_MIB), '--vms', String(vms)]], VMS_READY);
  const qemu = async (vms: number): Promise<number> => pssOfRunning(Array.from({ length: vms }, () => qemuCommand({ cmdline: '' })), BUNDLED_GUEST_PROMPT);
  const first = { nodeVmm: await nodeVmm(1), qemu: await qemu(1) };
  const all = { nodeVmm: await nodeVmm(1 + EXTRA_VMS), qemu: await qemu(1 + EXTRA_VMS) };
  report({ name: 'memory-first-vm', nodeVmm: first.nodeVmm, qemu: first.qemu, better: 'lower', unit: 'MiB' }, ` (PSS at the shell prompt, ${MEMORY_MIB} MiB guests)`);
  report(
    { name: 'memory-per-extra-vm', nodeVmm: (all.nodeVmm - first.nodeVmm) / EXTRA_VMS, qemu: (all.qemu - first.qemu) / EXTRA_VMS, better: 'lower', unit: 'MiB' },
    ` (PSS of ${1 + EXTRA_VMS} VMs less one, over ${EXTRA_VMS}: node-vmm runs them in one process, QEMU in one process each)`,
  );
}

async function main(): Promise<void> {
  const missing = qemuMissingReason();
  if (missing !== undefined) {
    console.error(`bench:peer needs ${QEMU_BINARY} (${missing}): install it with \`${QEMU_INSTALL}\` (Debian's qemu-system-x86) and run again`);
    process.exitCode = 1;
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-vmm-bench-peer-'));
  const disk = path.join(dir, 'disk.img');
  fs.writeFileSync(disk, Buffer.alloc(BLK_WINDOW_BYTES, 0x5a));
  const taps = new BridgedTaps('persistent', 'p');
  try {
    console.log(`QEMU: ${qemuCommand({ cmdline: '<bench mode>', disk: '<disk.img>', tap: { name: taps.guestSideName } }).join(' ')}`);
    console.log(`node-vmm: ${nodeVmmRun('<bench mode>', ['--disk', '<disk.img>', '--net', taps.guestSideName]).join(' ')} (extra VMs for the memory row: ${RUNNER})`);
    await bootRow();
    await pioRow();
    await blkRows(disk);
    await netRows(taps);
    await memoryRows();
    console.log(`peer rows ahead ${rows.filter(ahead).length} of ${rows.length}`);
  } finally {
    await taps.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
