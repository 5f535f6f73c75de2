// bench/exit-cost/dispatch: the TypeScript side of an exit alone (no KVM): VcpuLoop handling N port
// writes from a stand-in vCPU whose run() returns KVM_EXIT_IO at once, against a bare loop that makes
// the same native-call-shaped function call per iteration, in the same run. Prints
// "dispatch ns/exit" and "dispatch ratio R" (loop / bare). Runs anywhere, /dev/kvm not needed.
import { IoBus } from '../../lib/bus/io-bus';
import { KvmExit, KVM_EXIT_IO_OUT } from '../../lib/kvm/constants';
import { RunPage, RUN_LAYOUT } from '../../lib/kvm/run-page';
import { emptyRegs } from '../../lib/kvm/structs/regs';
import type { Vcpu } from '../../lib/kvm/vcpu';
import { ControlBlock, Request } from '../../lib/runner/control';
import { DEVICE_COUNTER_SLOTS, VcpuLoop } from '../../lib/runner/vcpu-loop';

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

function timeLoop(iterations: number): number {
  // Counting by device as a vCPU worker's buses do (the slots KVM's workers share with the main thread).
  const deviceCounts = new Float64Array(DEVICE_COUNTER_SLOTS);
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
timeBare(100_000);
const loop = timeLoop(ITERATIONS) / ITERATIONS;
const bare = timeBare(ITERATIONS) / ITERATIONS;
console.log(`dispatch ns/exit ${loop.toFixed(1)} (bare call loop ${bare.toFixed(1)} ns)`);
console.log(`dispatch ratio ${(loop / bare).toFixed(2)}`);
