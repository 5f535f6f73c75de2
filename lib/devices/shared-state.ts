// Device state that lives in SharedArrayBuffers (so every vCPU thread and the main thread see one
// device) is saved by copying the buffers and restored by copying them back: the device is quiesced
// and no thread touches it meanwhile.
import { ConfigError } from '../kvm/errors';

export type SavedBuffers = Record<string, Uint8Array>;

export function saveSharedBuffers(buffers: Readonly<Record<string, SharedArrayBuffer>>): SavedBuffers {
  const saved: SavedBuffers = {};
  for (const [name, buffer] of Object.entries(buffers)) saved[name] = new Uint8Array(buffer).slice();
  return saved;
}

/** Copies saved bytes back; the saved set must name exactly these buffers, each of the same size. */
export function restoreSharedBuffers(what: string, buffers: Readonly<Record<string, SharedArrayBuffer>>, saved: unknown): void {
  if (typeof saved !== 'object' || saved === null) throw new ConfigError(`${what}: saved state is not an object`);
  const record = saved as Record<string, unknown>;
  const names = Object.keys(buffers);
  for (const name of Object.keys(record)) if (!names.includes(name)) throw new ConfigError(`${what}: saved state has an unknown part '${name}'`);
  for (const name of names) {
    const bytes = record[name];
    const buffer = buffers[name] as SharedArrayBuffer;
    if (!(bytes instanceof Uint8Array) || bytes.length !== buffer.byteLength) {
      throw new ConfigError(`${what}: saved '${name}' must be ${buffer.byteLength} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`);
    }
  }
  for (const name of names) new Uint8Array(buffers[name] as SharedArrayBuffer).set(record[name] as Uint8Array);
}
