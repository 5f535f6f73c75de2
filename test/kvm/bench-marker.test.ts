// The bundled guest's marker loop (nodevmm.bench=marker) and bench/devices/marker/, the pair that
// issue 10's snapshot benchmark times restores with: the first marker reaches the main thread, and
// markers keep coming, never faster than the TSC-calibrated ~100 µs. (Slower is allowed: each marker
// is an MMIO exit, and a loaded host delays the vCPU; so a calibration that came out too long is not
// caught here, one that came out too short is.)
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { BenchMarkerDevice } from '../../bench/devices/marker/device';
import { createLinuxMachine } from '../../lib/boot/linux-machine';
import { bundledGuestPath } from '../../lib/guest/bundled';
import { requireKvm } from '../helpers/kvm';

const MiB = 1024 * 1024;
const FIRST_MARKER_MS = 30_000;
const WATCH_MS = 1000;
const INTERVAL_US = 100;
/** The calibration against 2 PIT ticks is within a few per cent; this allows for far worse. */
const CALIBRATION_SLACK = 1.5;

describe('the bundled guest marker loop and the bench-marker device (real KVM)', function () {
  before(function () {
    requireKvm(this);
  });

  it('posts the first marker to the main thread, then counts one write every ~100 µs', async function () {
    this.timeout(FIRST_MARKER_MS + 10_000);
    const marker = new BenchMarkerDevice();
    const { machine, console: serial } = createLinuxMachine({
      kernel: fs.readFileSync(bundledGuestPath()),
      cmdline: 'nodevmm.mode=bench nodevmm.bench=marker',
      memorySize: 64 * MiB,
      devices: [marker],
    });
    let output = '';
    serial.on('data', (chunk: Buffer) => (output += chunk.toString('latin1')));
    try {
      const first = new Promise<{ value: number }>((resolve, reject) => {
        void marker.firstMarker.then(resolve);
        void machine.exited.then((exit) => reject(new Error(`the guest ended (${exit.reason}) before its first marker:\n${output}`)));
        const timer = setTimeout(() => reject(new Error(`no marker in ${FIRST_MARKER_MS} ms:\n${output}`)), FIRST_MARKER_MS);
        void marker.firstMarker.then(() => clearTimeout(timer));
      });
      await machine.start();
      assert.equal((await first).value, 1, 'the first write carries count 1');
      const before = marker.markers();
      const started = process.hrtime.bigint();
      await new Promise((resolve) => setTimeout(resolve, WATCH_MS));
      const after = marker.markers();
      const elapsedUs = Number(process.hrtime.bigint() - started) / 1000;
      const writes = after.writes - before.writes;
      assert.equal(after.outOfSequence, 0, 'every write carries the previous count plus one: none lost or repeated');
      const most = elapsedUs / INTERVAL_US;
      assert.ok(writes > 0, 'the loop goes on');
      assert.ok(writes <= most * CALIBRATION_SLACK, `${writes} markers in ${(elapsedUs / 1000).toFixed(0)} ms: more than one per ~${INTERVAL_US} µs`);
      assert.match(output, /# bench marker: every \d+ TSC ticks/);
    } finally {
      await machine.dispose();
    }
  });
});
