import { missingPrerequisite } from '../helpers/prerequisite';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { parseBzImage } from '../../lib/boot/bzimage';
import { parseElfKernel } from '../../lib/boot/elf';
import { kernelExtent, parseKernel } from '../../lib/boot/kernel-image';
import { loadLinux } from '../../lib/boot/load-linux';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { GiB, MiB, ramLayout } from '../../lib/memory/layout';
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

const ZERO_PAGE = 0x7000;
const CMDLINE = 0x20000;

function zp(offset: number): number {
  return ZERO_PAGE + offset;
}

function readE820Table(memory: GuestMemory): { address: bigint; size: bigint; type: number }[] {
  return Array.from({ length: memory.readU8(zp(0x1e8)) }, (_, i) => {
    const entry = zp(0x2d0 + i * 20);
    return { address: memory.readU64(entry), size: memory.readU64(entry + 8), type: memory.readU32(entry + 16) };
  });
}

function isAllZero(memory: GuestMemory, address: number, length: number): boolean {
  return memory.slice(address, length).every((byte) => byte === 0);
}

describe('loadLinux', () => {
  const memories: GuestMemory[] = [];
  const allocate = (size: number): GuestMemory => {
    const memory = GuestMemory.allocate(ramLayout(size));
    memories.push(memory);
    return memory;
  };
  afterEach(() => {
    for (const memory of memories.splice(0)) memory.dispose();
  });

  it('loads a bzImage at 1 MiB and fills the zero page', () => {
    const memory = allocate(256 * MiB);
    const file = makeBzImage();
    const image = parseBzImage(file);
    const initrd = pattern(10_000, 5);
    const loaded = loadLinux(memory, image, { cmdline: 'console=ttyS0 panic=-1', initrd });

    assert.equal(loaded.entry, 0x100200n);
    assert.equal(loaded.zeroPage, ZERO_PAGE);
    assert.deepEqual(memory.readBytes(0x100000, image.protectedMode.length), image.protectedMode);
    assert.equal(memory.readCString(CMDLINE, 4096), 'console=ttyS0 panic=-1');

    // The setup header is copied byte for byte, then the loader's fields are set.
    assert.equal(memory.readU8(zp(0x1f1)), 4, 'setup_sects');
    assert.equal(memory.readU16(zp(0x1fe)), 0xaa55, 'boot_flag');
    assert.equal(memory.readU32(zp(0x202)), 0x53726448, 'HdrS');
    assert.equal(memory.readU16(zp(0x206)), 0x020f, 'version');
    assert.equal(memory.readU32(zp(0x230)), BZ_DEFAULTS.kernelAlignment, 'kernel_alignment');
    assert.equal(memory.readU32(zp(0x260)), BZ_DEFAULTS.initSize, 'init_size');
    assert.equal(memory.readU32(zp(0x238)), BZ_DEFAULTS.cmdlineSize, 'cmdline_size');
    assert.equal(memory.readU8(zp(0x210)), 0xff, 'type_of_loader');
    assert.equal(memory.readU8(zp(0x211)), 0x81, 'loadflags: LOADED_HIGH kept, CAN_USE_HEAP set');
    assert.equal(memory.readU16(zp(0x224)), 0xfe00, 'heap_end_ptr');
    assert.equal(memory.readU32(zp(0x228)), CMDLINE, 'cmd_line_ptr');
    assert.equal(memory.readU32(zp(0x0c8)), 0, 'ext_cmd_line_ptr');

    assert.ok(loaded.initrd !== undefined);
    assert.equal(memory.readU32(zp(0x218)), loaded.initrd.address, 'ramdisk_image');
    assert.equal(memory.readU32(zp(0x21c)), 10_000, 'ramdisk_size');
    assert.equal(memory.readU32(zp(0x0c0)), 0, 'ext_ramdisk_image');
    assert.equal(memory.readU32(zp(0x0c4)), 0, 'ext_ramdisk_size');
    assert.deepEqual(memory.readBytes(loaded.initrd.address, initrd.length), initrd);

    assert.deepEqual(readE820Table(memory), [
      { address: 0n, size: 0x9fc00n, type: 1 },
      { address: 0x9fc00n, size: 0x60400n, type: 2 },
      { address: 0x100000n, size: BigInt(255 * MiB), type: 1 },
    ]);
    assert.deepEqual(
      loaded.e820.map((e) => [e.address, e.size, e.type]),
      [
        [0, 0x9fc00, 1],
        [0x9fc00, 0x60400, 2],
        [0x100000, 255 * MiB, 1],
      ],
    );
  });

  it('places the initrd page aligned, as high as allowed, at or below initrd_addr_max and above the kernel', () => {
    const memory = allocate(256 * MiB);
    const image = parseBzImage(makeBzImage({ initrdAddrMax: 0x7ffffff }));
    const { initrd } = loadLinux(memory, image, { cmdline: '', initrd: pattern(0x2345, 1) });
    assert.ok(initrd !== undefined);
    assert.equal(initrd.address % 4096, 0);
    assert.ok(initrd.address + initrd.size - 1 <= 0x7ffffff);
    assert.ok(initrd.address + initrd.size > 0x8000000 - 4096);
    assert.ok(initrd.address >= 0x1000000 + BZ_DEFAULTS.initSize, 'above the decompressed kernel');
  });

  it('writes no initrd fields for no (or an empty) initrd', () => {
    const memory = allocate(64 * MiB);
    const loaded = loadLinux(memory, parseBzImage(makeBzImage()), { cmdline: 'quiet', initrd: new Uint8Array(0) });
    assert.equal(loaded.initrd, undefined);
    assert.equal(memory.readU32(zp(0x218)), 0);
    assert.equal(memory.readU32(zp(0x21c)), 0);
  });

  it('describes RAM above 4 GiB in the zero page for a 5 GiB guest and keeps the initrd below 2 GiB', () => {
    const memory = allocate(5 * GiB);
    const loaded = loadLinux(memory, parseBzImage(makeBzImage()), { cmdline: 'mem test', initrd: pattern(0x1000, 3) });
    assert.deepEqual(readE820Table(memory).slice(2), [
      { address: 0x100000n, size: BigInt(3 * GiB - 0x100000), type: 1 },
      { address: BigInt(4 * GiB), size: BigInt(2 * GiB), type: 1 },
    ]);
    assert.equal(loaded.initrd?.address, 0x80000000 - 0x1000);
  });

  it('loads a vmlinux segment by segment, zero filling up to p_memsz, with a minimal header', () => {
    const memory = allocate(64 * MiB);
    memory.slice(0x1000000, 0x420000).fill(0xee);
    const image = parseElfKernel(makeElf({ entry: KERNEL_VIRTUAL_BASE + 0x1000100n }));
    const loaded = loadLinux(memory, image, { cmdline: 'x'.repeat(2047) });
    assert.equal(loaded.entry, 0x1000100n);
    const [text, , data] = defaultElfSegments();
    assert.deepEqual(memory.readBytes(0x1000000, text.data.length), text.data);
    assert.ok(isAllZero(memory, 0x1002000, 0x1000), 'text bss zeroed');
    assert.deepEqual(memory.readBytes(0x1400000, data.data.length), data.data);
    assert.ok(isAllZero(memory, 0x1400100, 0x10000 - 0x100), 'data bss zeroed');
    assert.equal(memory.readU8(0x1003000), 0xee, 'nothing past p_memsz');

    assert.equal(memory.readU16(zp(0x1fe)), 0xaa55);
    assert.equal(memory.readU32(zp(0x202)), 0x53726448);
    assert.equal(memory.readU16(zp(0x206)), 0x020c);
    assert.equal(memory.readU8(zp(0x210)), 0xff);
    assert.equal(memory.readU32(zp(0x228)), CMDLINE);
    assert.equal(memory.readU8(zp(0x1e8)), 3);
    assert.equal(memory.readCString(CMDLINE, 4096).length, 2047);
    assertBootError(() => loadLinux(memory, image, { cmdline: 'x'.repeat(2048) }), 'CMDLINE_TOO_LONG');
  });

  it('rejects bad command lines (CMDLINE_TOO_LONG, BAD_CMDLINE)', () => {
    const memory = allocate(64 * MiB);
    const image = parseBzImage(makeBzImage());
    assertBootError(() => loadLinux(memory, image, { cmdline: 'x'.repeat(0x800) }), 'CMDLINE_TOO_LONG', /limit of 2047/);
    assertBootError(() => loadLinux(memory, image, { cmdline: 'a\0b' }), 'BAD_CMDLINE');
    const huge = parseBzImage(makeBzImage({ cmdlineSize: 0xffffffff }));
    assertBootError(() => loadLinux(memory, huge, { cmdline: 'x'.repeat(0x80000) }), 'CMDLINE_TOO_LONG', /does not fit between 0x20000 and 0x9fc00/);
  });

  it('rejects a kernel that does not fit in RAM (TOO_LARGE) and memory without room for Linux (NO_MEMORY)', () => {
    const memory = allocate(256 * MiB);
    assertBootError(() => loadLinux(memory, parseBzImage(makeBzImage({ initSize: 250 * MiB })), { cmdline: '' }), 'TOO_LARGE', /0x10a00000/);
    const [text] = defaultElfSegments();
    const highElf = parseElfKernel(makeElf({ segments: [{ ...text, paddr: 255 * MiB, memsz: 2 * MiB }], entry: BigInt(255 * MiB) }));
    assertBootError(() => loadLinux(memory, highElf, { cmdline: '' }), 'TOO_LARGE');
    const lowElf = parseElfKernel(makeElf({ segments: [{ ...text, paddr: 0x8000 }], entry: 0x8000n }));
    assertBootError(() => loadLinux(memory, lowElf, { cmdline: '' }), 'BAD_ELF', /below 1 MiB/);
    const tiny = allocate(512 * 1024);
    assertBootError(() => loadLinux(tiny, parseBzImage(makeBzImage()), { cmdline: '' }), 'NO_MEMORY');
  });

  it('rejects an initrd that does not fit above the kernel (INITRD_TOO_LARGE) without writing anything', () => {
    const memory = allocate(32 * MiB);
    const image = parseBzImage(makeBzImage());
    assert.equal(kernelExtent(image).end, 20 * MiB);
    assertBootError(() => loadLinux(memory, image, { cmdline: 'quiet', initrd: new Uint8Array(12 * MiB + 1) }), 'INITRD_TOO_LARGE', /0x1400000/);
    assert.ok(isAllZero(memory, ZERO_PAGE, 4096) && isAllZero(memory, CMDLINE, 16), 'no boot structures written');
    assert.ok(isAllZero(memory, 0x100000, BZ_DEFAULTS.kernelSize), 'no kernel written');
    const { initrd } = loadLinux(memory, image, { cmdline: 'quiet', initrd: new Uint8Array(12 * MiB) });
    assert.equal(initrd?.address, 20 * MiB);
  });

  it('loads the host kernel (and its initrd) into 256 MiB, if present', function () {
    const kernel = readableBootFile(/^vmlinuz-.*-amd64$/);
    if (kernel === undefined) {
      missingPrerequisite(this, 'no readable /boot/vmlinuz-*-amd64 on this host', 'apt-get install linux-image-amd64');
    }
    const image = parseKernel(readFileSync(kernel));
    const initrdPath = readableBootFile(new RegExp(`^initrd\\.img-${kernel.slice('/boot/vmlinuz-'.length)}$`));
    const initrd = initrdPath === undefined ? undefined : readFileSync(initrdPath);
    const memory = allocate(256 * MiB);
    const loaded = loadLinux(memory, image, { cmdline: 'console=ttyS0 reboot=k panic=-1', initrd });
    assert.equal(loaded.entry, 0x100200n);
    assert.equal(memory.readU16(zp(0x206)), image.protocol);
    if (loaded.initrd !== undefined) assert.ok(loaded.initrd.address >= kernelExtent(image).end);
  });
});
