// vmlinux parsing: an uncompressed ELF64 x86-64 Linux kernel, loaded segment by segment at the physical
// addresses (p_paddr) its program headers give and entered at its 64-bit startup_64.
import { COMMAND_LINE_SIZE, DEFAULT_INITRD_ADDR_MAX, MIN_PROTOCOL } from './boot-params';
import { BootError, hex } from './errors';
import type { ElfKernel, ElfSegment } from './kernel-image';

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];
const EI_CLASS = 4;
const EI_DATA = 5;
const EI_VERSION = 6;
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const EV_CURRENT = 1;
const ET_EXEC = 2;
const EM_X86_64 = 62;
const PT_LOAD = 1;

const ELF_HEADER_SIZE = 64;
const PROGRAM_HEADER_SIZE = 56;

const Ehdr = {
  type: 0x10,
  machine: 0x12,
  version: 0x14,
  entry: 0x18,
  phoff: 0x20,
  phentsize: 0x36,
  phnum: 0x38,
} as const;

const Phdr = {
  type: 0x00,
  offset: 0x08,
  vaddr: 0x10,
  paddr: 0x18,
  filesz: 0x20,
  memsz: 0x28,
} as const;

const MAX_ADDRESS = BigInt(Number.MAX_SAFE_INTEGER);

interface LoadSegment extends ElfSegment {
  readonly virtualAddress: bigint;
}

export function isElf(file: Uint8Array): boolean {
  return ELF_MAGIC.every((byte, i) => file[i] === byte);
}

function badElf(message: string): BootError {
  return new BootError('BAD_ELF', `vmlinux: ${message}`);
}

function checkIdent(file: Uint8Array, view: DataView): void {
  if (file.length < ELF_HEADER_SIZE) {
    throw new BootError('TRUNCATED', `vmlinux is ${file.length} bytes, shorter than an ELF64 header (${ELF_HEADER_SIZE})`);
  }
  if (!isElf(file)) throw new BootError('BAD_MAGIC', 'vmlinux has no ELF magic (\\x7fELF)');
  if (file[EI_CLASS] !== ELFCLASS64) throw badElf(`ELF class ${file[EI_CLASS]} is not ELFCLASS64 (${ELFCLASS64})`);
  if (file[EI_DATA] !== ELFDATA2LSB) throw badElf(`ELF data encoding ${file[EI_DATA]} is not little-endian (${ELFDATA2LSB})`);
  if (file[EI_VERSION] !== EV_CURRENT || view.getUint32(Ehdr.version, true) !== EV_CURRENT) throw badElf('ELF version is not EV_CURRENT (1)');
  const type = view.getUint16(Ehdr.type, true);
  if (type !== ET_EXEC) throw badElf(`ELF type ${type} is not ET_EXEC (${ET_EXEC})`);
  const machine = view.getUint16(Ehdr.machine, true);
  if (machine !== EM_X86_64) throw badElf(`ELF machine ${machine} is not x86-64 (${EM_X86_64})`);
}

function readLoadSegments(file: Uint8Array, view: DataView): LoadSegment[] {
  const phoff = view.getBigUint64(Ehdr.phoff, true);
  const phentsize = view.getUint16(Ehdr.phentsize, true);
  const phnum = view.getUint16(Ehdr.phnum, true);
  if (phentsize !== PROGRAM_HEADER_SIZE) throw badElf(`program header size ${phentsize} is not ${PROGRAM_HEADER_SIZE}`);
  const tableEnd = phoff + BigInt(phnum * phentsize);
  if (phnum === 0 || tableEnd > BigInt(file.length)) {
    throw badElf(`program header table (${phnum} entries at ${hex(phoff)}) is empty or runs past the ${file.length}-byte file`);
  }
  const segments: LoadSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const base = Number(phoff) + i * phentsize;
    if (view.getUint32(base + Phdr.type, true) !== PT_LOAD) continue;
    const offset = view.getBigUint64(base + Phdr.offset, true);
    const filesz = view.getBigUint64(base + Phdr.filesz, true);
    const memsz = view.getBigUint64(base + Phdr.memsz, true);
    const paddr = view.getBigUint64(base + Phdr.paddr, true);
    if (filesz > memsz) throw badElf(`segment ${i} has p_filesz ${hex(filesz)} larger than p_memsz ${hex(memsz)}`);
    if (offset + filesz > BigInt(file.length)) {
      throw badElf(`segment ${i} (${hex(filesz)} bytes at file offset ${hex(offset)}) runs past the ${file.length}-byte file`);
    }
    if (paddr + memsz > MAX_ADDRESS) throw badElf(`segment ${i} at physical ${hex(paddr)}+${hex(memsz)} is beyond any guest RAM`);
    if (memsz === 0n) continue;
    segments.push({
      physicalAddress: Number(paddr),
      data: file.subarray(Number(offset), Number(offset + filesz)),
      memorySize: Number(memsz),
      virtualAddress: view.getBigUint64(base + Phdr.vaddr, true),
    });
  }
  if (segments.length === 0) throw badElf('no PT_LOAD segment');
  segments.sort((a, b) => a.physicalAddress - b.physicalAddress);
  segments.reduce((previous, segment) => {
    if (segment.physicalAddress < previous.physicalAddress + previous.memorySize) {
      throw badElf(`segments at physical ${hex(previous.physicalAddress)} and ${hex(segment.physicalAddress)} overlap`);
    }
    return segment;
  });
  return segments;
}

/**
 * The entry as a physical address. Linux links vmlinux with ENTRY(phys_startup_64), so e_entry already is
 * physical and lies in a segment's p_paddr range; an e_entry that is instead a (high) virtual address inside
 * a segment's p_vaddr range is translated to that segment's p_paddr. Physical wins if both match.
 */
function physicalEntry(entry: bigint, segments: readonly LoadSegment[]): number {
  const inside = (start: bigint, size: number): boolean => entry >= start && entry < start + BigInt(size);
  if (segments.some((s) => inside(BigInt(s.physicalAddress), s.memorySize))) return Number(entry);
  const segment = segments.find((s) => inside(s.virtualAddress, s.memorySize));
  if (segment === undefined) throw badElf(`entry point ${hex(entry)} lies in no PT_LOAD segment`);
  return segment.physicalAddress + Number(entry - segment.virtualAddress);
}

export function parseElfKernel(file: Uint8Array): ElfKernel {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  checkIdent(file, view);
  const loadSegments = readLoadSegments(file, view);
  const entryAddress = physicalEntry(view.getBigUint64(Ehdr.entry, true), loadSegments);
  const segments: ElfSegment[] = loadSegments.map(({ physicalAddress, data, memorySize }) => ({ physicalAddress, data, memorySize }));
  const first = segments[0];
  const last = segments[segments.length - 1];
  const loadAddress = first.physicalAddress;
  const imageSize = last.physicalAddress + last.memorySize - loadAddress;
  return {
    format: 'elf',
    protocol: MIN_PROTOCOL,
    segments,
    loadAddress,
    imageSize,
    entryAddress,
    // A vmlinux runs where it is loaded, and its bss and brk lie inside its last segment.
    initSize: imageSize,
    initrdAddrMax: DEFAULT_INITRD_ADDR_MAX,
    cmdlineMax: COMMAND_LINE_SIZE - 1,
    kernelAlignment: 1,
    relocatable: false,
    prefAddress: loadAddress,
  };
}
