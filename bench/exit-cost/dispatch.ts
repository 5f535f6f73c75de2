// bench/exit-cost/dispatch: the TypeScript side of an exit alone (no KVM): VcpuLoop handling N port
// writes from a stand-in vCPU whose run() returns KVM_EXIT_IO at once, against a bare loop that makes
// the same native-call-shaped function call per iteration, in the same run; and the loop with its
// buses counting accesses by device (as the vCPU workers' do) against the loop without, in
// DISPATCH_ROUNDS interleaved rounds (default 10). Prints the medians with their spread,
// "dispatch ns/exit", "counting ns/exit" and "dispatch ratio R" (loop / bare). /dev/kvm not needed.
import { IoBus } from '../../lib/bus/io-bus';
import { KvmExit, KVM_EXIT_IO_OUT } from '../../lib/kvm/constants';
import { RunPage, RUN_LAYOUT } from '../../lib/kvm/run-page';
import { emptyRegs } from '../../lib/kvm/structs/regs';
import type { Vcpu } from '../../lib/kvm/vcpu';
import { ControlBlock, Request } from '../../lib/runner/control';
import { DEVICE_COUNTER_SLOTS, VcpuLoop } from '../../lib/runner/vcpu-loop';
import { median, spread } from '../stats';

const ITERATIONS = Number(process.env.DISPATCH_ITERATIONS ?? 5_000_000);
const PIO_DATA_OFFSET = 4096;

function standInVcpu(iterations: number): Vcpu {
  const page = new RunPage(new ArrayBuffer(3 * 4096));
  page.bytes[RUN_LAYOUT['io.direction']] = KVM_EXIT_IO_OUT;
  page.bytes[RUN_LAYOUT['io.size']] = 1;
  page.view.setUint16(RUN_LAYOUT['io.port'], 0x10, true);
  page.view.setUint32(RUN_LAYOUT['io.count'], 1, true);
  page.view.setBigUint64(RUN_LAYOUT['io.data_offset'], BigInt(PIO_DATA_OFFSET), true);
  let left = iterations;
  const fake = {
    runPage: page,
    run: () => (left-- > 0 ? KvmExit.IO : KvmExit.HLT),
    getRegs: emptyRegs,
    getSregs: () => {
      throw new Error('not needed');
    },
  };
  return fake as unknown as Vcpu;
}

const ROUNDS = Number(process.env.DISPATCH_ROUNDS ?? 10);

/** With `countByDevice`, the buses count each access in the owner's slot, as a vCPU worker's buses do. */
function timeLoop(iterations: number, countByDevice = true): number {
  const deviceCounts = countByDevice ? new Float64Array(DEVICE_COUNTER_SLOTS) : undefined;
  const pio = new IoBus('pio', deviceCounts);
  let count = 0;
  pio.register(0x10, 1, { read: (_o, d) => d.fill(0), write: () => void count++ });
  const control = new ControlBlock(1);
  control.setRequest(0, Request.RUN);
  const loop = new VcpuLoop({ vcpu: standInVcpu(iterations), buses: { pio, mmio: new IoBus('mmio', deviceCounts) }, control, index: 0, unhandledIo: 'ignore', post: () => undefined, pendingExit: {} });
  const started = process.hrtime.bigint();
  const end = loop.run();
  const elapsed = Number(process.hrtime.bigint() - started);
  if (end.reason !== 'hlt' || count !== iterations) throw new Error(`loop ended ${end.reason} after ${count}`);
  return elapsed;
}

function timeBare(iterations: number): number {
  let left = iterations;
  const run = (): number => (left-- > 0 ? KvmExit.IO : KvmExit.HLT);
  let count = 0;
  const started = process.hrtime.bigint();
  while (run() === KvmExit.IO) count++;
  const elapsed = Number(process.hrtime.bigint() - started);
  if (count !== iterations) throw new Error('bare loop miscounted');
  return elapsed;
}

timeLoop(100_000);
timeLoop(100_000, false);
timeBare(100_000);
const counted: number[] = [];
const uncounted: number[] = [];
const bare: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  counted.push(timeLoop(ITERATIONS) / ITERATIONS);
  uncounted.push(timeLoop(ITERATIONS, false) / ITERATIONS);
  bare.push(timeBare(ITERATIONS) / ITERATIONS);
}
console.log(`loop counting by device: ${spread(counted)} ns/exit; without: ${spread(uncounted)}; bare call loop: ${spread(bare)} (${ROUNDS} interleaved rounds of ${ITERATIONS})`);
console.log(`dispatch ns/exit ${median(counted).toFixed(1)} (bare call loop ${median(bare).toFixed(1)} ns)`);
console.log(`counting ns/exit ${(median(counted) - median(uncounted)).toFixed(1)}`);
console.log(`dispatch ratio ${(median(counted) / median(bare)).toFixed(2)}`);
