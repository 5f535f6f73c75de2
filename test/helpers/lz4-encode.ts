// A small greedy LZ4 legacy-frame encoder for tests of the decoder (lib/boot/decompress/lz4-legacy.ts).
// Written from the format description, not for speed: one 4-byte hash table, no lazy matching.
const MAGIC = 0x184c2102;
const BLOCK_SIZE = 8 * 1024 * 1024;
const MIN_MATCH = 4;
/** The format wants the last 5 bytes of a block as literals and no match starting in the last 12. */
const LAST_LITERALS = 5;
const MATCH_LIMIT = 12;
const MAX_OFFSET = 0xffff;

function pushLength(out: number[], length: number): void {
  let rest = length - 15;
  while (rest >= 255) {
    out.push(255);
    rest -= 255;
  }
  out.push(rest);
}

function encodeBlock(input: Uint8Array): number[] {
  const out: number[] = [];
  const table = new Map<number, number>();
  let anchor = 0;
  let pos = 0;
  const readU32 = (i: number): number => ((input[i] as number) | ((input[i + 1] as number) << 8) | ((input[i + 2] as number) << 16) | ((input[i + 3] as number) << 24)) >>> 0;
  const emit = (literalEnd: number, offset: number, matchLength: number): void => {
    const literals = literalEnd - anchor;
    const matchCode = matchLength === 0 ? 0 : matchLength - MIN_MATCH;
    out.push((Math.min(literals, 15) << 4) | Math.min(matchCode, 15));
    if (literals >= 15) pushLength(out, literals);
    for (let i = anchor; i < literalEnd; i++) out.push(input[i] as number);
    if (matchLength === 0) return;
    out.push(offset & 0xff, offset >> 8);
    if (matchCode >= 15) pushLength(out, matchCode);
  };
  while (pos + MATCH_LIMIT <= input.length) {
    const key = readU32(pos);
    const candidate = table.get(key);
    table.set(key, pos);
    if (candidate === undefined || pos - candidate > MAX_OFFSET || readU32(candidate) !== key) {
      pos++;
      continue;
    }
    let length = MIN_MATCH;
    while (pos + length < input.length - LAST_LITERALS && input[candidate + length] === input[pos + length]) length++;
    emit(pos, pos - candidate, length);
    pos += length;
    anchor = pos;
  }
  emit(input.length, 0, 0);
  return out;
}

/** A legacy LZ4 stream followed by the 4-byte size trailer Linux's build appends. */
export function encodeLz4Legacy(input: Uint8Array): Uint8Array {
  const parts: number[] = [];
  const pushU32 = (value: number): void => {
    parts.push(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff);
  };
  pushU32(MAGIC);
  for (let start = 0; start < input.length; start += BLOCK_SIZE) {
    const block = encodeBlock(input.subarray(start, start + BLOCK_SIZE));
    pushU32(block.length);
    for (const byte of block) parts.push(byte);
  }
  pushU32(input.length);
  return Uint8Array.from(parts);
}
