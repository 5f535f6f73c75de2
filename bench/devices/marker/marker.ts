// The bench-marker device's vCPU-thread half: serves the window the bundled guest's
// `nodevmm.bench=marker` loop writes its running count to, counts the writes in a SharedArrayBuffer
// and sends the first one to the main-thread half (device.ts) over the device's channel.
import type { DeviceContext } from '../../../lib/runner/device-context';

export const MARKER_WINDOW_BYTES = 4;
export const WRITES = 0;
export const LAST_VALUE = 1;
/** Writes whose count was not the previous one plus one (a lost or repeated marker). */
export const OUT_OF_SEQUENCE = 2;
export const MARKER_STATE_WORDS = 3;

export interface MarkerArgs {
  base: number;
  /** Int32 [writes, last value written, writes out of sequence]. */
  state: SharedArrayBuffer;
}

/** What the channel carries, once: the first marker. */
export interface FirstMarker {
  value: number;
  /** process.hrtime.bigint() in the vCPU worker when the write's exit was handled, in ns. */
  at: bigint;
}

export function setup(context: DeviceContext, rawArgs: unknown): void {
  const args = rawArgs as MarkerArgs;
  const words = new Int32Array(args.state);
  context.mmio.register(
    args.base,
    MARKER_WINDOW_BYTES,
    {
      read(_offset, data) {
        data.fill(0);
      },
      write(_offset, data) {
        let value = 0;
        for (let i = Math.min(data.length, MARKER_WINDOW_BYTES) - 1; i >= 0; i--) value = value * 256 + (data[i] as number);
        // Checked here, on every write: the main thread cannot read the two words as one snapshot.
        const previous = Atomics.exchange(words, LAST_VALUE, value | 0) >>> 0;
        const earlier = Atomics.add(words, WRITES, 1);
        if (earlier === 0) context.channel?.postMessage({ value, at: process.hrtime.bigint() } satisfies FirstMarker);
        else if (value !== (previous + 1) >>> 0) Atomics.add(words, OUT_OF_SEQUENCE, 1);
      },
    },
    'bench-marker',
  );
}
