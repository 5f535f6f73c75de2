import { missingPrerequisite } from '../helpers/prerequisite';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { parseBzImage } from '../../lib/boot/bzimage';
import { decompressBzImage, payloadCompression } from '../../lib/boot/bzimage-payload';
import { decompressLz4Legacy, Lz4FormatError } from '../../lib/boot/decompress/lz4-legacy';
import { parseElfKernel } from '../../lib/boot/elf';
import { hostDecompressed, withEmulationParameters } from '../../lib/boot/emulated-kernel-mode';
import { encodeLz4Legacy } from '../helpers/lz4-encode';
import { Prng } from '../helpers/prng';
import { assertBootError, makeBzImage, makeElf, readableBootFiles } from './boot-fixtures.test';

const withSizeTrailer = (data: Uint8Array, size: number): Uint8Array => {
  const out = new Uint8Array(data.length + 4);
  out.set(data);
  new DataView(out.buffer).setUint32(data.length, size, true);
  return out;
};
const legacyStream = (...blocks: number[][]): Uint8Array => {
  const bytes = [0x02, 0x21, 0x4c, 0x18];
  for (const block of blocks) bytes.push(block.length & 0xff, (block.length >> 8) & 0xff, 0, 0, ...block);
  return Uint8Array.from(bytes);
};

describe('LZ4 legacy decoding', () => {
  it('decodes literals, overlapping matches and extended lengths', () => {
    // "ab" then a match of offset 2, length 4 + 15 + 3 = 22 (overlapping: repeats "ab"), then literal "z"
    const block = [0x2f, 0x61, 0x62, 0x02, 0x00, 0x03, 0x10, 0x7a];
    const out = decompressLz4Legacy(legacyStream(block), 25);
    assert.equal(Buffer.from(out).toString('latin1'), `${'ab'.repeat(12)}z`);
  });

  it('round-trips data from an independent encoder, across several blocks', () => {
    const random = new Prng(7);
    const data = new Uint8Array(9 * 1024 * 1024 + 123);
    for (let i = 0; i < data.length; i++) data[i] = i % 4096 < 2048 ? (i >> 3) & 0xff : random.below(4);
    const stream = encodeLz4Legacy(data);
    assert.ok(stream.length < data.length / 2, 'the sample compresses');
    assert.deepEqual(decompressLz4Legacy(stream, data.length), data);
  });

  it('rejects corrupt streams without reading or writing out of bounds', () => {
    const cases: [string, Uint8Array, number][] = [
      ['no magic', Uint8Array.of(1, 2, 3, 4, 5), 4],
      ['offset 0', legacyStream([0x10, 0x61, 0x00, 0x00]), 8],
      ['offset before the output', legacyStream([0x10, 0x61, 0x05, 0x00]), 8],
      ['literals past the block', legacyStream([0x50, 0x61]), 8],
      ['a length extension past the block', legacyStream([0xf0, 0xff]), 300],
      ['output larger than declared', legacyStream([0x40, 0x61, 0x62, 0x63, 0x64]), 3],
      ['a stream that ends early', legacyStream([0x10, 0x61]), 10],
      ['a block size past the end', Uint8Array.of(0x02, 0x21, 0x4c, 0x18, 0xff, 0, 0, 0, 1), 10],
    ];
    for (const [name, stream, size] of cases) {
      assert.throws(() => decompressLz4Legacy(stream, size), Lz4FormatError, name);
    }
  });

  it('survives 2,000 random mutations of a valid stream: decoded or Lz4FormatError, nothing else', () => {
    const random = new Prng(0x1a4);
    const data = Uint8Array.from({ length: 4000 }, (_, i) => (i % 97 < 50 ? i & 0x3f : random.below(256)));
    const stream = encodeLz4Legacy(data);
    for (let round = 0; round < 2000; round++) {
      const mutated = stream.slice();
      for (let flips = 1 + random.below(4); flips > 0; flips--) mutated[random.below(mutated.length)] = random.below(256);
      try {
        assert.equal(decompressLz4Legacy(mutated, data.length).length, data.length);
      } catch (error) {
        assert.ok(error instanceof Lz4FormatError, String(error));
      }
    }
  });
});

describe('bzImage payload decompression on the host', () => {
  const vmlinux = makeElf();

  it('tells the compressors apart by their magic', () => {
    assert.equal(payloadCompression(gzipSync(Uint8Array.of(1))), 'gzip');
    assert.equal(payloadCompression(encodeLz4Legacy(Uint8Array.of(1))), 'lz4');
    assert.equal(payloadCompression(Uint8Array.of(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1)), 'xz');
    assert.equal(payloadCompression(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd)), 'zstd');
    assert.equal(payloadCompression(Uint8Array.of(0, 0, 0, 0)), 'unknown');
  });

  it('gives back the vmlinux of a gzip or LZ4 bzImage, which parses as an ELF kernel', () => {
    for (const payload of [gzipSync(vmlinux), encodeLz4Legacy(vmlinux)]) {
      const out = decompressBzImage(parseBzImage(makeBzImage({ payload })));
      assert.deepEqual(out, vmlinux);
      assert.equal(parseElfKernel(out).entryAddress, 0x1000000);
    }
  });

  it('names formats it cannot decompress (UNSUPPORTED_COMPRESSION) and corrupt payloads (BAD_PAYLOAD)', () => {
    const xz = Uint8Array.of(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 0, 0, 0);
    assertBootError(() => decompressBzImage(parseBzImage(makeBzImage({ payload: xz }))), 'UNSUPPORTED_COMPRESSION', /xz-compressed/);
    assertBootError(() => decompressBzImage(parseBzImage(makeBzImage())), 'BAD_PAYLOAD', /no compressed payload/);
    const lz4 = encodeLz4Legacy(vmlinux);
    const wrongSize = withSizeTrailer(lz4.subarray(0, lz4.length - 4), vmlinux.length + 1);
    assertBootError(() => decompressBzImage(parseBzImage(makeBzImage({ payload: wrongSize }))), 'BAD_PAYLOAD', /does not decompress/);
    const hugeSize = withSizeTrailer(lz4.subarray(0, lz4.length - 4), 0xffffffff);
    assertBootError(() => decompressBzImage(parseBzImage(makeBzImage({ payload: hugeSize }))), 'BAD_PAYLOAD', /declares a decompressed size/);
    const gzip = gzipSync(vmlinux);
    assertBootError(() => decompressBzImage(parseBzImage(makeBzImage({ payload: gzip.subarray(0, gzip.length - 9) }))), 'BAD_PAYLOAD');
  });

  it('rejects a payload that runs past the kernel (BAD_SETUP)', () => {
    const file = makeBzImage({ payload: gzipSync(vmlinux) });
    new DataView(file.buffer, file.byteOffset).setUint32(0x24c, 0x100000, true);
    assertBootError(() => parseBzImage(file), 'BAD_SETUP', /payload/);
  });

  it("decompresses the host's kernels to ELF vmlinux where gzip or LZ4, and names the others, if present", function () {
    const paths = readableBootFiles(/^vmlinuz-.*-amd64$/);
    if (paths.length === 0) {
      missingPrerequisite(this, 'no readable /boot/vmlinuz-*-amd64 on this host', 'apt-get install linux-image-amd64');
    }
    for (const path of paths) {
      const image = parseBzImage(readFileSync(path));
      const compression = payloadCompression(image.protectedMode.subarray(image.payload.offset));
      if (compression !== 'gzip' && compression !== 'lz4') {
        assertBootError(() => decompressBzImage(image), 'UNSUPPORTED_COMPRESSION');
        console.log(`      ${path}: ${compression}, refused by name`);
        continue;
      }
      const elf = parseElfKernel(decompressBzImage(image));
      assert.ok(elf.segments.length > 0, path);
      assert.ok(elf.loadAddress >= 0x100000, path);
      console.log(`      ${path}: ${compression}, decompressed to a vmlinux of ${elf.segments.length} segments`);
    }
  });
});

describe('Linux boot adjustments where guest kernel mode is emulated', () => {
  it('appends noxsave once, keeping the given command line first', () => {
    assert.equal(withEmulationParameters('console=ttyS0'), 'console=ttyS0 noxsave');
    assert.equal(withEmulationParameters('noxsave console=ttyS0'), 'noxsave console=ttyS0');
    assert.equal(withEmulationParameters(''), 'noxsave');
  });

  it('boots the host-decompressed vmlinux of a gzip or LZ4 bzImage, anything else as given', () => {
    const elf = makeElf();
    assert.equal(hostDecompressed(parseBzImage(makeBzImage({ payload: encodeLz4Legacy(elf) }))).format, 'elf');
    const xz = parseBzImage(makeBzImage({ payload: Uint8Array.of(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 0) }));
    assert.equal(hostDecompressed(xz), xz);
    const noPayload = parseBzImage(makeBzImage());
    assert.equal(hostDecompressed(noPayload), noPayload);
    const vmlinux = parseElfKernel(elf);
    assert.equal(hostDecompressed(vmlinux), vmlinux);
  });
});
