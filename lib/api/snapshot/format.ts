// The state file of a snapshot: a header (magic, format version, architecture, payload length), the
// payload (the machine's state as JSON, binary fields base64 and 64-bit integers as strings) and a
// CRC-32 over everything before it. Decoding checks each of them and throws a SnapshotError with the
// reason; a file that passes is what some node-vmm of this format wrote, unchanged.
import { crc32 } from 'node:zlib';
import { SnapshotError } from './errors';

export const SNAPSHOT_MAGIC = 'NVMMSNAP';
export const SNAPSHOT_FORMAT_VERSION = 1;
export const SNAPSHOT_ARCH_X86_64 = 1;
const HEADER_BYTES = 24;
const CHECKSUM_BYTES = 4;
const BYTES_TAG = '$bytes';
const BIGINT_TAG = '$bigint';

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return { [BYTES_TAG]: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  if (typeof value === 'bigint') return { [BIGINT_TAG]: value.toString() };
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    if (keys.length === 1 && typeof record[BYTES_TAG] === 'string') return new Uint8Array(Buffer.from(record[BYTES_TAG], 'base64'));
    if (keys.length === 1 && typeof record[BIGINT_TAG] === 'string') return BigInt(record[BIGINT_TAG]);
  }
  return value;
}

export function encodeSnapshotState(state: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(state, replacer), 'utf8');
  const file = Buffer.alloc(HEADER_BYTES + payload.length + CHECKSUM_BYTES);
  file.write(SNAPSHOT_MAGIC, 0, 'latin1');
  file.writeUInt32LE(SNAPSHOT_FORMAT_VERSION, 8);
  file.writeUInt32LE(SNAPSHOT_ARCH_X86_64, 12);
  file.writeBigUInt64LE(BigInt(payload.length), 16);
  payload.copy(file, HEADER_BYTES);
  file.writeUInt32LE(crc32(file.subarray(0, HEADER_BYTES + payload.length)), HEADER_BYTES + payload.length);
  return file;
}

export function decodeSnapshotState(file: Uint8Array): unknown {
  const bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (bytes.length < HEADER_BYTES + CHECKSUM_BYTES) throw new SnapshotError('TRUNCATED', `the state file has ${bytes.length} bytes, less than a header`);
  if (bytes.toString('latin1', 0, 8) !== SNAPSHOT_MAGIC) throw new SnapshotError('BAD_MAGIC', 'not a node-vmm snapshot state file (bad magic)');
  const version = bytes.readUInt32LE(8);
  if (version !== SNAPSHOT_FORMAT_VERSION) throw new SnapshotError('UNSUPPORTED_VERSION', `snapshot format version ${version}; this node-vmm reads version ${SNAPSHOT_FORMAT_VERSION}`);
  const arch = bytes.readUInt32LE(12);
  if (arch !== SNAPSHOT_ARCH_X86_64) throw new SnapshotError('WRONG_ARCH', `the snapshot was saved on architecture ${arch}, not x86-64`);
  const length = bytes.readBigUInt64LE(16);
  const expected = BigInt(HEADER_BYTES + CHECKSUM_BYTES) + length;
  if (BigInt(bytes.length) < expected) throw new SnapshotError('TRUNCATED', `the state file is ${bytes.length} bytes, its header says ${expected}`);
  if (BigInt(bytes.length) > expected) throw new SnapshotError('BAD_STATE', `the state file has ${BigInt(bytes.length) - expected} bytes after its checksum`);
  const end = HEADER_BYTES + Number(length);
  if (crc32(bytes.subarray(0, end)) !== bytes.readUInt32LE(end)) throw new SnapshotError('BAD_CHECKSUM', 'the state file does not match its checksum (damaged or changed)');
  try {
    return JSON.parse(bytes.toString('utf8', HEADER_BYTES, end), reviver);
  } catch (error) {
    throw new SnapshotError('BAD_STATE', `the state payload is not valid: ${(error as Error).message}`, { cause: error });
  }
}
