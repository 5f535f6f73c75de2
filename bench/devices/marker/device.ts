// The bench-marker device: the host side of the bundled guest's `nodevmm.bench=marker` loop, which
// writes its running count to BUNDLED_GUEST_BENCH_MARKER_ADDRESS every ~100 µs (guest/README.md). It
// counts the writes (markers()) and resolves firstMarker with the first one, for benchmarks that time
// "until the guest's first marker" (issue 10's restores). Add it to a machine's devices:
//   const marker = new BenchMarkerDevice();
//   createLinuxMachine({ ..., cmdline: 'nodevmm.mode=bench nodevmm.bench=marker', devices: [marker] })
import * as path from 'node:path';
import type { MessagePort } from 'node:worker_threads';
import { type Device, type DeviceNeeds, PlacedDevice } from '../../../lib/devices/device';
import { BUNDLED_GUEST_BENCH_MARKER_ADDRESS } from '../../../lib/guest/bundled';
import type { DeviceModuleSpec } from '../../../lib/runner/messages';
import { type FirstMarker, LAST_VALUE, MARKER_STATE_WORDS, MARKER_WINDOW_BYTES, type MarkerArgs, OUT_OF_SEQUENCE, WRITES } from './marker';

const MODULE_PATH = path.join(__dirname, 'marker.js');

export type { FirstMarker } from './marker';

export class BenchMarkerDevice extends PlacedDevice implements Device {
  readonly kind = 'bench-marker';
  readonly idPrefix = 'bench-marker';
  readonly needs: DeviceNeeds = { mmioWindow: { size: MARKER_WINDOW_BYTES, base: BUNDLED_GUEST_BENCH_MARKER_ADDRESS } };
  /** The first marker the guest wrote (never settles if it writes none). */
  readonly firstMarker: Promise<FirstMarker>;
  readonly #state = new SharedArrayBuffer(MARKER_STATE_WORDS * Int32Array.BYTES_PER_ELEMENT);
  #resolveFirst!: (marker: FirstMarker) => void;

  constructor(options: { id?: string } = {}) {
    super(options.id);
    this.firstMarker = new Promise((resolve) => (this.#resolveFirst = resolve));
  }

  get worker(): DeviceModuleSpec {
    return { module: MODULE_PATH, args: { base: BUNDLED_GUEST_BENCH_MARKER_ADDRESS, state: this.#state } satisfies MarkerArgs };
  }

  connect(_vcpu: number, port: MessagePort): void {
    port.once('message', (marker: FirstMarker) => this.#resolveFirst(marker));
  }

  /**
   * Marker writes so far, the last count the guest wrote, and how many writes after the first did not
   * carry the previous count plus one (a marker lost or repeated). Each word is read on its own: a
   * write may land between them.
   */
  markers(): { writes: number; lastValue: number; outOfSequence: number } {
    const words = new Int32Array(this.#state);
    return { writes: Atomics.load(words, WRITES), lastValue: Atomics.load(words, LAST_VALUE) >>> 0, outOfSequence: Atomics.load(words, OUT_OF_SEQUENCE) };
  }

  kernelCmdline(): string {
    return '';
  }

  acpiNode(): undefined {
    return undefined;
  }
}
