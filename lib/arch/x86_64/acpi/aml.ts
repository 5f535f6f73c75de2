// An encoder for the little of ACPI Machine Language (ACPI 6.5, chapter 20) a DSDT of fixed devices
// needs: names, integers, strings, EISA ids, packages, buffers, devices and resource templates
// (chapter 6.4). Every function returns the encoded bytes; composition is concatenation.
import { ConfigError } from '../../../kvm/errors';

const ZERO_OP = 0x00;
const ONE_OP = 0x01;
const NAME_OP = 0x08;
const BYTE_PREFIX = 0x0a;
const WORD_PREFIX = 0x0b;
const DWORD_PREFIX = 0x0c;
const STRING_PREFIX = 0x0d;
const QWORD_PREFIX = 0x0e;
const SCOPE_OP = 0x10;
const BUFFER_OP = 0x11;
const PACKAGE_OP = 0x12;
const EXT_OP_PREFIX = 0x5b;
const DEVICE_OP = 0x82;
const ROOT_CHAR = 0x5c;
const DUAL_NAME_PREFIX = 0x2e;
const MULTI_NAME_PREFIX = 0x2f;

/** Resource descriptor tags (ACPI 6.5, 6.4.2 small and 6.4.3 large items). */
const IO_PORT_DESCRIPTOR = 0x47;
const END_TAG = 0x79;
const MEMORY32_FIXED_DESCRIPTOR = 0x86;
const EXTENDED_INTERRUPT_DESCRIPTOR = 0x89;
const IO_DECODE_16 = 0x01;
const MEMORY_READ_WRITE = 0x01;
const INTERRUPT_CONSUMER = 1 << 0;
const INTERRUPT_EDGE = 1 << 1;
const INTERRUPT_ACTIVE_LOW = 1 << 2;

const ONE_BYTE_PKG_MAX = 0x3f;
const MAX_PKG_LENGTH = 0x0fffffff;

export type Aml = Uint8Array;

export function concat(...parts: readonly Aml[]): Aml {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const bytes = (...values: number[]): Aml => Uint8Array.from(values);
const le = (value: number, width: number): number[] => Array.from({ length: width }, (_, i) => Math.floor(value / 256 ** i) & 0xff);

/**
 * PkgLength (20.2.4) of a body of `bodyLength` bytes; the encoding counts its own bytes. One byte up
 * to 63; otherwise a lead byte with the count of following bytes in bits 6-7 and the low nibble.
 */
export function pkgLength(bodyLength: number): Aml {
  if (bodyLength + 1 <= ONE_BYTE_PKG_MAX) return bytes(bodyLength + 1);
  for (let extra = 1; extra <= 3; extra++) {
    const total = bodyLength + 1 + extra;
    if (total < 2 ** (4 + 8 * extra)) return bytes((extra << 6) | (total & 0x0f), ...le(Math.floor(total / 16), extra));
  }
  throw new ConfigError(`AML package of ${bodyLength} bytes exceeds the largest PkgLength (${MAX_PKG_LENGTH})`);
}

function nameSeg(segment: string): number[] {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(segment)) throw new ConfigError(`AML name segment '${segment}' is not 1-4 of A-Z, 0-9, _ (not starting with a digit)`);
  return [...Buffer.from(segment.padEnd(4, '_'), 'latin1')];
}

/** A NameString (20.2.2): `\` for the root, then segments separated by dots. */
export function nameString(path: string): Aml {
  const root = path.startsWith('\\');
  const segments = (root ? path.slice(1) : path).split('.');
  const prefix = root ? [ROOT_CHAR] : [];
  const encoded = segments.flatMap(nameSeg);
  if (segments.length === 1) return bytes(...prefix, ...encoded);
  if (segments.length === 2) return bytes(...prefix, DUAL_NAME_PREFIX, ...encoded);
  return bytes(...prefix, MULTI_NAME_PREFIX, segments.length, ...encoded);
}

/** The shortest integer encoding (ZeroOp, OneOp, then Byte/Word/DWord/QWord constants). */
export function integer(value: number | bigint): Aml {
  const n = BigInt(value);
  if (n < 0n || n >= 1n << 64n) throw new ConfigError(`AML integer ${n} is outside 0..2^64-1`);
  if (n === 0n) return bytes(ZERO_OP);
  if (n === 1n) return bytes(ONE_OP);
  const width = n < 0x100n ? 1 : n < 0x10000n ? 2 : n < 0x100000000n ? 4 : 8;
  const prefix = { 1: BYTE_PREFIX, 2: WORD_PREFIX, 4: DWORD_PREFIX, 8: QWORD_PREFIX }[width] as number;
  return bytes(prefix, ...Array.from({ length: width }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn)));
}

export function string(text: string): Aml {
  if (!/^[\x01-\x7f]*$/.test(text)) throw new ConfigError(`AML string '${text}' must be ASCII without NUL`);
  return bytes(STRING_PREFIX, ...Buffer.from(text, 'latin1'), 0);
}

/** EISAID("PNP0501"): three letters compressed to 5 bits each, four hex digits, stored big-endian. */
export function eisaId(id: string): Aml {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new ConfigError(`EISA id '${id}' must be three capitals and four hex digits`);
  const letters = [0, 1, 2].map((i) => id.charCodeAt(i) - 0x40);
  const vendor = ((letters[0] as number) << 10) | ((letters[1] as number) << 5) | (letters[2] as number);
  const product = parseInt(id.slice(3), 16);
  return bytes(DWORD_PREFIX, vendor >> 8, vendor & 0xff, product >> 8, product & 0xff);
}

export function name(path: string, value: Aml): Aml {
  return concat(bytes(NAME_OP), nameString(path), value);
}

export function packageOf(elements: readonly Aml[]): Aml {
  if (elements.length > 0xff) throw new ConfigError(`AML package of ${elements.length} elements (at most 255)`);
  const body = concat(bytes(elements.length), ...elements);
  return concat(bytes(PACKAGE_OP), pkgLength(body.length), body);
}

export function buffer(data: Aml): Aml {
  const body = concat(integer(data.length), data);
  return concat(bytes(BUFFER_OP), pkgLength(body.length), body);
}

export function scope(path: string, ...terms: Aml[]): Aml {
  const body = concat(nameString(path), ...terms);
  return concat(bytes(SCOPE_OP), pkgLength(body.length), body);
}

export function device(path: string, ...terms: Aml[]): Aml {
  const body = concat(nameString(path), ...terms);
  return concat(bytes(EXT_OP_PREFIX, DEVICE_OP), pkgLength(body.length), body);
}

/** A ResourceTemplate: the descriptors and an end tag whose zero checksum means "valid, not summed". */
export function resourceTemplate(...descriptors: Aml[]): Aml {
  return buffer(concat(...descriptors, bytes(END_TAG, 0)));
}

/** IO(Decode16, port, port, 1, length): a fixed range of I/O ports. */
export function ioPorts(port: number, length: number): Aml {
  return bytes(IO_PORT_DESCRIPTOR, IO_DECODE_16, ...le(port, 2), ...le(port, 2), 1, length);
}

export function memory32Fixed(base: number, length: number): Aml {
  return bytes(MEMORY32_FIXED_DESCRIPTOR, 9, 0, MEMORY_READ_WRITE, ...le(base, 4), ...le(length, 4));
}

export interface InterruptOptions {
  edge: boolean;
  activeLow?: boolean;
}

/** Interrupt(ResourceConsumer, Edge|Level, ActiveHigh|ActiveLow, Exclusive) { gsi }. */
export function extendedInterrupt(gsi: number, options: InterruptOptions): Aml {
  const flags = INTERRUPT_CONSUMER | (options.edge ? INTERRUPT_EDGE : 0) | (options.activeLow === true ? INTERRUPT_ACTIVE_LOW : 0);
  return bytes(EXTENDED_INTERRUPT_DESCRIPTOR, 6, 0, flags, 1, ...le(gsi, 4));
}
