// LZ4 "legacy" frames, the format Linux's KERNEL_LZ4 payloads use: a magic word, then blocks, each a
// little-endian u32 compressed size followed by one LZ4 block (at most 8 MiB of output, enforced).
// Every length, offset and copy is checked against the input and the expected output size: a corrupt
// payload is an error, never a read or write out of bounds.

import { VmmError } from '../../kvm/errors';
export const LZ4_LEGACY_MAGIC = 0x184c2102;
const MIN_MATCH = 4;
const LENGTH_EXTENDED = 15;
const EXTENSION_CONTINUES = 255;
const MAX_BLOCK_OUTPUT = 8 * 1024 * 1024;

export class Lz4FormatError extends VmmError {}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes one LZ4 block from input[start, end) into output from outPos on; returns the new outPos. */
function decodeBlock(input: Uint8Array, start: number, end: number, output: Uint8Array, outStart: number): number {
  let inPos = start;
  let outPos = outStart;
  const readLength = (base: number): number => {
    let length = base;
    if (base !== LENGTH_EXTENDED) return length;
    for (;;) {
      if (inPos >= end) throw new Lz4FormatError('length runs past the end of its block');
      const byte = input[inPos++] as number;
      length += byte;
      if (byte !== EXTENSION_CONTINUES) return length;
    }
  };
  while (inPos < end) {
    const token = input[inPos++] as number;
    const literals = readLength(token >>> 4);
    if (literals > end - inPos) throw new Lz4FormatError('literals run past the end of their block');
    if (literals > output.length - outPos) throw new Lz4FormatError('output is larger than the size the payload declares');
    output.set(input.subarray(inPos, inPos + literals), outPos);
    inPos += literals;
    outPos += literals;
    if (inPos === end) break; // the last sequence of a block has literals only
    if (end - inPos < 2) throw new Lz4FormatError('match offset runs past the end of its block');
    const offset = (input[inPos] as number) | ((input[inPos + 1] as number) << 8);
    inPos += 2;
    if (offset === 0 || offset > outPos) throw new Lz4FormatError(`match offset ${offset} points before the start of the output`);
    const length = readLength(token & 0x0f) + MIN_MATCH;
    if (length > output.length - outPos) throw new Lz4FormatError('output is larger than the size the payload declares');
    if (offset >= length) {
      output.copyWithin(outPos, outPos - offset, outPos - offset + length);
      outPos += length;
    } else {
      for (let i = 0; i < length; i++, outPos++) output[outPos] = output[outPos - offset] as number;
    }
  }
  return outPos;
}

/**
 * Decompresses a legacy LZ4 stream whose decompressed size is known. Input after the output is
 * complete (Linux appends the size as 4 bytes) is ignored.
 */
export function decompressLz4Legacy(input: Uint8Array, outputSize: number): Uint8Array {
  const data = view(input);
  if (input.length < 4 || data.getUint32(0, true) !== LZ4_LEGACY_MAGIC) throw new Lz4FormatError('no LZ4 legacy magic');
  const output = new Uint8Array(outputSize);
  let inPos = 4;
  let outPos = 0;
  while (outPos < outputSize) {
    if (input.length - inPos < 4) throw new Lz4FormatError(`stream ends after ${outPos} of ${outputSize} bytes`);
    const blockSize = data.getUint32(inPos, true);
    inPos += 4;
    if (blockSize === LZ4_LEGACY_MAGIC) continue; // concatenated streams repeat the magic
    if (blockSize === 0 || blockSize > input.length - inPos) throw new Lz4FormatError(`block of ${blockSize} bytes at ${inPos - 4} runs past the end of the stream`);
    const blockStart = outPos;
    outPos = decodeBlock(input, inPos, inPos + blockSize, output, outPos);
    if (outPos - blockStart > MAX_BLOCK_OUTPUT) throw new Lz4FormatError(`block at ${inPos - 4} decodes to more than ${MAX_BLOCK_OUTPUT} bytes`);
    inPos += blockSize;
  }
  return output;
}
