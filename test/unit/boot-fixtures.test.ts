// Synthetic kernel images for the boot tests (named *.test.ts only to live beside them; it has no tests).
// Offsets are written out literally from boot.rst and the ELF spec, independent of lib/boot's constants.
import { strict as assert } from 'node:assert';
import { accessSync, constants, readdirSync } from 'node:fs';
import { BootError, BootErrorCode } from '../../lib/boot/errors';

export interface BzImageSpec {
  setupSects?: number;
  /** Written to the header instead of setupSects, without changing the file's layout. */
  setupSectsField?: number;
  version?: number;
  xloadflags?: number;
  kernelSize?: number;
  /** Bytes cut off the end of the file after the header is written (syssize still declares them). */
  truncateBy?: number;
  headerEnd?: number;
  initSize?: number;
  initrdAddrMax?: number;
  cmdlineSize?: number;
  kernelAlignment?: number;
  relocatable?: boolean;
  prefAddress?: number;
  magic?: string;
  bootFlag?: number;
  /** A compressed kernel placed in the protected-mode part, 0x100 bytes in (payload_offset/length). */
  payload?: Uint8Array;
}

export const BZ_DEFAULTS = {
  setupSects: 4,
  kernelSize: 0x3000,
  headerEnd: 0x268,
  initSize: 0x400000,
  initrdAddrMax: 0x7fffffff,
  cmdlineSize: 0x7ff,
  kernelAlignment: 0x200000,
  prefAddress: 0x1000000,
} as const;

export function makeBzImage(spec: BzImageSpec = {}): Uint8Array {
  const setupSects = spec.setupSects ?? BZ_DEFAULTS.setupSects;
  const payloadOffset = 0x100;
  const kernelSize = spec.kernelSize ?? (spec.payload === undefined ? BZ_DEFAULTS.kernelSize : Math.ceil((payloadOffset + spec.payload.length) / 16) * 16);
  const setupSize = ((setupSects || 4) + 1) * 512;
  const file = new Uint8Array(setupSize + kernelSize);
  const view = new DataView(file.buffer);
  for (let i = setupSize; i < file.length; i++) file[i] = (i * 7 + 3) & 0xff;
  view.setUint8(0x1f1, spec.setupSectsField ?? setupSects);
  view.setUint32(0x1f4, Math.ceil(kernelSize / 16), true);
  view.setUint16(0x1fe, spec.bootFlag ?? 0xaa55, true);
  view.setUint8(0x200, 0xeb);
  view.setUint8(0x201, (spec.headerEnd ?? BZ_DEFAULTS.headerEnd) - 0x202);
  file.set(Buffer.from(spec.magic ?? 'HdrS', 'latin1'), 0x202);
  view.setUint16(0x206, spec.version ?? 0x020f, true);
  view.setUint8(0x211, 0x01);
  view.setUint32(0x214, 0x100000, true);
  view.setUint32(0x22c, spec.initrdAddrMax ?? BZ_DEFAULTS.initrdAddrMax, true);
  view.setUint32(0x230, spec.kernelAlignment ?? BZ_DEFAULTS.kernelAlignment, true);
  view.setUint8(0x234, spec.relocatable === false ? 0 : 1);
  view.setUint16(0x236, spec.xloadflags ?? 0x3, true);
  view.setUint32(0x238, spec.cmdlineSize ?? BZ_DEFAULTS.cmdlineSize, true);
  view.setBigUint64(0x258, BigInt(spec.prefAddress ?? BZ_DEFAULTS.prefAddress), true);
  view.setUint32(0x260, spec.initSize ?? BZ_DEFAULTS.initSize, true);
  if (spec.payload !== undefined) {
    view.setUint32(0x248, payloadOffset, true);
    view.setUint32(0x24c, spec.payload.length, true);
    file.set(spec.payload, setupSize + payloadOffset);
  }
  return spec.truncateBy === undefined ? file : file.subarray(0, file.length - spec.truncateBy);
}

export interface ElfSegmentSpec {
  type?: number;
  paddr: number;
  vaddr: bigint;
  data: Uint8Array;
  memsz: number;
  /** Overrides the file offset the program header records. */
  offset?: number;
}

export interface ElfSpec {
  entry?: bigint;
  segments?: ElfSegmentSpec[];
  elfClass?: number;
  dataEncoding?: number;
  machine?: number;
  type?: number;
  phoff?: bigint;
  phnum?: number;
}

export const KERNEL_VIRTUAL_BASE = 0xffffffff80000000n;

export function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 13 + seed) & 0xff);
}

export function defaultElfSegments(): ElfSegmentSpec[] {
  return [
    { paddr: 0x1000000, vaddr: KERNEL_VIRTUAL_BASE + 0x1000000n, data: pattern(0x2000, 1), memsz: 0x3000 },
    { type: 4, paddr: 0, vaddr: 0n, data: pattern(0x40, 9), memsz: 0x40 },
    { paddr: 0x1400000, vaddr: KERNEL_VIRTUAL_BASE + 0x1400000n, data: pattern(0x100, 2), memsz: 0x10000 },
  ];
}

export function makeElf(spec: ElfSpec = {}): Uint8Array {
  const segments = spec.segments ?? defaultElfSegments();
  const phoff = 64;
  let dataOffset = phoff + segments.length * 56;
  const offsets = segments.map((s) => {
    const offset = dataOffset;
    dataOffset += s.data.length;
    return offset;
  });
  const file = new Uint8Array(dataOffset);
  const view = new DataView(file.buffer);
  file.set([0x7f, 0x45, 0x4c, 0x46, spec.elfClass ?? 2, spec.dataEncoding ?? 1, 1]);
  view.setUint16(0x10, spec.type ?? 2, true);
  view.setUint16(0x12, spec.machine ?? 62, true);
  view.setUint32(0x14, 1, true);
  view.setBigUint64(0x18, spec.entry ?? 0x1000000n, true);
  view.setBigUint64(0x20, spec.phoff ?? BigInt(phoff), true);
  view.setUint16(0x34, 64, true);
  view.setUint16(0x36, 56, true);
  view.setUint16(0x38, spec.phnum ?? segments.length, true);
  segments.forEach((s, i) => {
    const base = phoff + i * 56;
    view.setUint32(base, s.type ?? 1, true);
    view.setBigUint64(base + 0x08, BigInt(s.offset ?? offsets[i]), true);
    view.setBigUint64(base + 0x10, s.vaddr, true);
    view.setBigUint64(base + 0x18, BigInt(s.paddr), true);
    view.setBigUint64(base + 0x20, BigInt(s.data.length), true);
    view.setBigUint64(base + 0x28, BigInt(s.memsz), true);
    file.set(s.data, offsets[i]);
  });
  return file;
}

/** Asserts that `fn` throws a BootError with `code` (and a message matching `message`, if given). */
export function assertBootError(fn: () => unknown, code: BootErrorCode, message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof BootError, `expected a BootError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (message !== undefined) assert.match(error.message, message);
    return true;
  });
}

/** Readable files in /boot whose names match, for tests that use the host's kernels if present. */
export function readableBootFiles(name: RegExp): string[] {
  let names: string[];
  try {
    names = readdirSync('/boot');
  } catch {
    return [];
  }
  return names
    .filter((n) => name.test(n))
    .sort()
    .map((n) => `/boot/${n}`)
    .filter((path) => {
      try {
        accessSync(path, constants.R_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/** The first readable file in /boot whose name matches. */
export function readableBootFile(name: RegExp): string | undefined {
  return readableBootFiles(name)[0];
}
