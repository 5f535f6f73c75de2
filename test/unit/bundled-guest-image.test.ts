import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { parseKernel } from '../../lib/boot/kernel-image';
import { bundledGuestElfPath, bundledGuestPath } from '../../lib/guest/bundled';
import { parseTap } from '../helpers/tap';

const PT_NOTE = 4;
const XEN_ELFNOTE_PHYS32_ENTRY = 18;

describe('bundled guest image', () => {
  it('is a bzImage our loader accepts, with its 64-bit entry at 1 MiB + 0x200', () => {
    const image = parseKernel(fs.readFileSync(bundledGuestPath()));
    assert.equal(image.format, 'bzimage');
    assert.ok(image.protocol >= 0x020c, 'boot protocol >= 2.12');
    assert.equal(image.entryAddress, 0x100200);
    assert.ok(image.imageSize > 0x200 && image.imageSize < 64 * 1024, `a tiny kernel (${image.imageSize} bytes)`);
    assert.ok(image.initSize >= image.imageSize, 'init_size covers the image and its bss');
  });

  it('is also a PVH ELF (what QEMU boots): the same loaded bytes, nothing below 1 MiB, a PHYS32_ENTRY note', () => {
    const elf = new Uint8Array(fs.readFileSync(bundledGuestElfPath()));
    const kernel = parseKernel(elf);
    const bz = parseKernel(fs.readFileSync(bundledGuestPath()));
    assert.equal(kernel.format, 'elf');
    assert.equal(bz.format, 'bzimage');
    if (kernel.format !== 'elf' || bz.format !== 'bzimage') return;
    assert.equal(kernel.entryAddress, bz.entryAddress, 'the ELF entry is the 64-bit entry too');
    assert.ok(kernel.segments.every((segment) => segment.physicalAddress >= 0x100000), 'no segment below 1 MiB (QEMU would load it over its BIOS)');
    const first = kernel.segments.find((segment) => segment.physicalAddress === 0x100000);
    assert.ok(first !== undefined);
    assert.deepEqual(Buffer.from(first.data), Buffer.from(bz.protectedMode.subarray(0, first.data.length)), 'the bzImage carries the same kernel bytes');
    assert.equal(Buffer.from(elf.subarray(0x202, 0x206)).toString('latin1') === 'HdrS', false, 'no Linux setup header where QEMU looks for one');
    const view = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
    const phoff = Number(view.getBigUint64(0x20, true));
    const notes: { name: string; type: number; desc: Uint8Array }[] = [];
    for (let i = 0; i < view.getUint16(0x38, true); i++) {
      const at = phoff + i * 56;
      if (view.getUint32(at, true) !== PT_NOTE) continue;
      const offset = Number(view.getBigUint64(at + 8, true));
      const namesz = view.getUint32(offset, true);
      const descsz = view.getUint32(offset + 4, true);
      const descAt = offset + 12 + Math.ceil(namesz / 4) * 4;
      notes.push({ name: Buffer.from(elf.subarray(offset + 12, offset + 12 + namesz - 1)).toString('latin1'), type: view.getUint32(offset + 8, true), desc: elf.subarray(descAt, descAt + descsz) });
    }
    const pvh = notes.find((note) => note.name === 'Xen' && note.type === XEN_ELFNOTE_PHYS32_ENTRY);
    assert.ok(pvh !== undefined, 'a Xen PHYS32_ENTRY note');
    const entry = new DataView(pvh.desc.buffer, pvh.desc.byteOffset, pvh.desc.byteLength).getUint32(0, true);
    assert.ok(entry >= 0x100000 && entry < 0x100000 + first.data.length, `the PVH entry 0x${entry.toString(16)} lies in the loaded kernel`);
  });

  it('TAP parser reads plans and test lines', () => {
    const tap = parseTap('TAP version 13\r\n1..2\r\nok 1 - a\r\nnot ok 2 - b\r\n');
    assert.equal(tap.planned, 2);
    assert.deepEqual(tap.tests.map((t) => [t.ok, t.number, t.description]), [[true, 1, 'a'], [false, 2, 'b']]);
  });
});
