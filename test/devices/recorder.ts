// A test device for the vCPU workers: logs every access into a SharedArrayBuffer the test reads, and
// answers reads with a fixed pattern. Loaded by each vCPU worker through MachineConfig.devices.
import type { BusDevice } from '../../lib/bus/io-bus';
import type { DeviceContext } from '../../lib/runner/device-context';

export interface RecorderArgs {
  /** Int32 log: [0] = entry count, then ENTRY_WORDS per entry. */
  log: SharedArrayBuffer;
  pio?: { base: number; size: number };
  mmio?: { base: number; size: number };
  /** Byte pattern returned by reads, starting at offset 0 of the range. */
  readPattern: number[];
}

export const ENTRY_WORDS = 6;
export const Kind = { PIO_READ: 1, PIO_WRITE: 2, MMIO_READ: 3, MMIO_WRITE: 4 } as const;

export interface LoggedAccess {
  kind: number;
  vcpu: number;
  offset: number;
  size: number;
  /** Little-endian value of the data (up to 8 bytes). */
  value: bigint;
}

export function createLog(entries: number): SharedArrayBuffer {
  return new SharedArrayBuffer((1 + entries * ENTRY_WORDS) * 4);
}

export function readLog(log: SharedArrayBuffer): LoggedAccess[] {
  const words = new Int32Array(log);
  const count = Math.min(Atomics.load(words, 0), (words.length - 1) / ENTRY_WORDS);
  return Array.from({ length: count }, (_, i) => {
    const at = 1 + i * ENTRY_WORDS;
    return {
      kind: words[at] as number,
      vcpu: words[at + 1] as number,
      offset: words[at + 2] as number,
      size: words[at + 3] as number,
      value: (BigInt(words[at + 5] as number >>> 0) << 32n) | BigInt(words[at + 4] as number >>> 0),
    };
  });
}

function valueOf(data: Uint8Array): bigint {
  let value = 0n;
  for (let i = data.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(data[i] as number);
  return value;
}

export function setup(context: DeviceContext, rawArgs: unknown): void {
  const args = rawArgs as RecorderArgs;
  const words = new Int32Array(args.log);
  const capacity = (words.length - 1) / ENTRY_WORDS;
  const record = (kind: number, offset: number, data: Uint8Array): void => {
    const index = Atomics.add(words, 0, 1);
    if (index >= capacity) return;
    const value = valueOf(data);
    const at = 1 + index * ENTRY_WORDS;
    words.set([kind, context.vcpuIndex, offset, data.length, Number(value & 0xffffffffn) | 0, Number(value >> 32n) | 0], at);
  };
  const device = (readKind: number, writeKind: number): BusDevice => ({
    read(offset, data) {
      for (let i = 0; i < data.length; i++) data[i] = args.readPattern[(offset + i) % args.readPattern.length] as number;
      record(readKind, offset, data);
    },
    write(offset, data) {
      record(writeKind, offset, data);
    },
  });
  if (args.pio) context.pio.register(args.pio.base, args.pio.size, device(Kind.PIO_READ, Kind.PIO_WRITE), 'recorder-pio');
  if (args.mmio) context.mmio.register(args.mmio.base, args.mmio.size, device(Kind.MMIO_READ, Kind.MMIO_WRITE), 'recorder-mmio');
}
