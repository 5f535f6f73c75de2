import { missingPrerequisite } from '../helpers/prerequisite';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { parseBzImage } from '../../lib/boot/bzimage';
import { parseElfKernel } from '../../lib/boot/elf';
import { kernelExtent, parseKernel } from '../../lib/boot/kernel-image';
import {
  assertBootError,
  BZ_DEFAULTS,
  defaultElfSegments,
  KERNEL_VIRTUAL_BASE,
  makeBzImage,
  makeElf,
  pattern,
  readableBootFile,
} from './boot-fixtures.test';

describe('bzImage parsing', () => {
  it('reads the setup header fields and splits off the protected-mode kernel', () => {
    const file = makeBzImage();
    const image = parseBzImage(file);
    assert.equal(image.format, 'bzimage');
    assert.equal(image.protocol, 0x020f);
    assert.equal(image.loadAddress, 0x100000);
    assert.equal(image.entryAddress, 0x100200);
    assert.equal(image.initSize, BZ_DEFAULTS.initSize);
    assert.equal(image.initrdAddrMax, BZ_DEFAULTS.initrdAddrMax);
    assert.equal(image.cmdlineMax, BZ_DEFAULTS.cmdlineSize);
    assert.equal(image.kernelAlignment, BZ_DEFAULTS.kernelAlignment);
    assert.equal(image.prefAddress, BZ_DEFAULTS.prefAddress);
    assert.equal(image.relocatable, true);
    assert.deepEqual(image.protectedMode, file.subarray(5 * 512));
    assert.equal(image.imageSize, BZ_DEFAULTS.kernelSize);
    assert.deepEqual(image.setupHeader, file.subarray(0x1f1, 0x268));
  });

  it('treats setup_sects 0 as 4', () => {
    const image = parseBzImage(makeBzImage({ setupSects: 0 }));
    assert.equal(image.protectedMode.length, BZ_DEFAULTS.kernelSize);
  });

  it('honours setup_sects and a header that ends elsewhere', () => {
    const image = parseBzImage(makeBzImage({ setupSects: 30, headerEnd: 0x280 }));
    assert.equal(image.protectedMode.length, BZ_DEFAULTS.kernelSize);
    assert.equal(image.setupHeader.length, 0x280 - 0x1f1);
  });

  it('accepts a Buffer view that does not start at its ArrayBuffer start', () => {
    const file = makeBzImage();
    const padded = new Uint8Array(file.length + 3);
    padded.set(file, 3);
    assert.equal(parseBzImage(padded.subarray(3)).protocol, 0x020f);
  });

  it('computes the runtime extent from pref_address, kernel_alignment and init_size', () => {
    assert.deepEqual(kernelExtent(parseBzImage(makeBzImage())), { start: 0x100000, end: 0x1000000 + BZ_DEFAULTS.initSize });
    const fixed = parseBzImage(makeBzImage({ relocatable: false, prefAddress: 0x2000000 }));
    assert.deepEqual(kernelExtent(fixed), { start: 0x100000, end: 0x2000000 + BZ_DEFAULTS.initSize });
    const lowPref = parseBzImage(makeBzImage({ prefAddress: 0x100000, kernelAlignment: 0x100000, initSize: 0x1000 }));
    assert.deepEqual(kernelExtent(lowPref), { start: 0x100000, end: 0x100000 + BZ_DEFAULTS.kernelSize });
  });

  it('rejects a file too short for a header (TRUNCATED)', () => {
    assertBootError(() => parseBzImage(new Uint8Array(0x100)), 'TRUNCATED', /too short/);
    assertBootError(() => parseBzImage(makeBzImage().subarray(0, 0x240)), 'TRUNCATED', /header ends at 0x268/);
  });

  it('rejects a kernel shorter than syssize declares (TRUNCATED)', () => {
    assertBootError(() => parseBzImage(makeBzImage({ truncateBy: 0x100 })), 'TRUNCATED', /syssize/);
  });

  it('rejects a wrong magic or boot flag (BAD_MAGIC)', () => {
    assertBootError(() => parseBzImage(makeBzImage({ magic: 'HdrX' })), 'BAD_MAGIC', /HdrS/);
    assertBootError(() => parseBzImage(makeBzImage({ bootFlag: 0x1234 })), 'BAD_MAGIC', /boot flag/);
  });

  it('rejects protocol 2.10 (OLD_PROTOCOL)', () => {
    assertBootError(
      () => parseBzImage(makeBzImage({ version: 0x020a })),
      'OLD_PROTOCOL',
      /^boot protocol 2\.10 is older than 2\.12, the first with a 64-bit entry$/,
    );
  });

  it('rejects a kernel without XLF_KERNEL_64 (NOT_64BIT)', () => {
    assertBootError(() => parseBzImage(makeBzImage({ xloadflags: 0x2 })), 'NOT_64BIT', /XLF_KERNEL_64/);
  });

  it('rejects setup_sects past the end of the file and inconsistent headers (BAD_SETUP)', () => {
    assertBootError(() => parseBzImage(makeBzImage({ setupSectsField: 200 })), 'BAD_SETUP', /setup_sects 200 .* past the end/);
    // 5 sectors of setup + 0x3000 bytes of kernel = 29 sectors: setup_sects 28 leaves no kernel at all.
    assertBootError(() => parseBzImage(makeBzImage({ setupSectsField: 28 })), 'BAD_SETUP', /at or past the end/);
    assertBootError(() => parseBzImage(makeBzImage({ headerEnd: 0x250 })), 'BAD_SETUP', /init_size/);
    assertBootError(() => parseBzImage(makeBzImage({ kernelAlignment: 0x300000 })), 'BAD_SETUP', /power of two/);
  });
});

describe('vmlinux (ELF) parsing', () => {
  it('collects PT_LOAD segments by physical address and keeps a physical entry', () => {
    const image = parseElfKernel(makeElf());
    assert.equal(image.format, 'elf');
    assert.equal(image.entryAddress, 0x1000000);
    assert.equal(image.loadAddress, 0x1000000);
    assert.equal(image.imageSize, 0x1410000 - 0x1000000);
    assert.equal(image.cmdlineMax, 2047);
    assert.deepEqual(
      image.segments.map((s) => [s.physicalAddress, s.data.length, s.memorySize]),
      [
        [0x1000000, 0x2000, 0x3000],
        [0x1400000, 0x100, 0x10000],
      ],
    );
    assert.deepEqual(image.segments[1]?.data, pattern(0x100, 2));
    assert.deepEqual(kernelExtent(image), { start: 0x1000000, end: 0x1410000 });
  });

  it('translates a high virtual entry through its segment to physical', () => {
    const image = parseElfKernel(makeElf({ entry: KERNEL_VIRTUAL_BASE + 0x1400040n }));
    assert.equal(image.entryAddress, 0x1400040);
  });

  it('parseKernel tells ELF from bzImage', () => {
    assert.equal(parseKernel(makeElf()).format, 'elf');
    assert.equal(parseKernel(makeBzImage()).format, 'bzimage');
  });

  it('rejects a header-sized truncation (TRUNCATED) and a missing magic (BAD_MAGIC)', () => {
    assertBootError(() => parseElfKernel(makeElf().subarray(0, 40)), 'TRUNCATED');
    const file = makeElf();
    file[1] = 0;
    assertBootError(() => parseElfKernel(file), 'BAD_MAGIC');
  });

  it('rejects a wrong class, byte order, type or machine (BAD_ELF)', () => {
    assertBootError(() => parseElfKernel(makeElf({ elfClass: 1 })), 'BAD_ELF', /ELFCLASS64/);
    assertBootError(() => parseElfKernel(makeElf({ dataEncoding: 2 })), 'BAD_ELF', /little-endian/);
    assertBootError(() => parseElfKernel(makeElf({ type: 3 })), 'BAD_ELF', /ET_EXEC/);
    assertBootError(() => parseElfKernel(makeElf({ machine: 3 })), 'BAD_ELF', /machine 3/);
  });

  it('rejects program headers and segments outside the file (BAD_ELF)', () => {
    assertBootError(() => parseElfKernel(makeElf({ phoff: 0xffffffffffffff00n })), 'BAD_ELF', /program header table/);
    assertBootError(() => parseElfKernel(makeElf({ phnum: 0xffff })), 'BAD_ELF', /program header table/);
    assertBootError(() => parseElfKernel(makeElf().subarray(0, 64 + 2 * 56)), 'BAD_ELF', /runs past the 176-byte file/);
    assertBootError(() => parseElfKernel(makeElf({ phnum: 0 })), 'BAD_ELF', /empty/);
    const [text, , data] = defaultElfSegments();
    assertBootError(() => parseElfKernel(makeElf({ segments: [text, { ...data, offset: 0x100000 }] })), 'BAD_ELF', /runs past/);
    assertBootError(() => parseElfKernel(makeElf({ segments: [{ ...text, memsz: 0x10 }] })), 'BAD_ELF', /p_filesz/);
  });

  it('rejects overlapping segments, an entry outside every segment and no PT_LOAD (BAD_ELF)', () => {
    const [text, note] = defaultElfSegments();
    assertBootError(() => parseElfKernel(makeElf({ segments: [text, { ...text, paddr: 0x1001000 }] })), 'BAD_ELF', /overlap/);
    assertBootError(() => parseElfKernel(makeElf({ entry: 0x5000000n })), 'BAD_ELF', /entry point/);
    assertBootError(() => parseElfKernel(makeElf({ segments: [note] })), 'BAD_ELF', /no PT_LOAD/);
  });
});

describe('the host kernel', () => {
  it('parses /boot/vmlinuz-*-amd64 as a 64-bit bzImage', function () {
    const path = readableBootFile(/^vmlinuz-.*-amd64$/);
    if (path === undefined) {
      missingPrerequisite(this, 'no readable /boot/vmlinuz-*-amd64 on this host', 'apt-get install linux-image-amd64');
    }
    const image = parseKernel(readFileSync(path));
    assert.equal(image.format, 'bzimage');
    assert.ok(image.protocol >= 0x020c, `protocol ${image.protocol.toString(16)}`);
    assert.equal(image.entryAddress, 0x100200);
    assert.ok(image.initSize > image.imageSize, 'init_size covers the decompressed kernel');
    assert.equal(image.cmdlineMax, 2047);
    assert.equal(image.relocatable, true);
  });
});
