import { strict as assert } from 'node:assert';
import { encodeCmdline } from '../../lib/boot/cmdline';
import { buildE820, E820_RAM, E820_RESERVED, formatE820, formatE820Entry } from '../../lib/boot/e820';
import { placeInitrd } from '../../lib/boot/initrd';
import { GiB, MiB, ramLayout } from '../../lib/memory/layout';
import { assertBootError } from './boot-fixtures.test';

describe('E820 map', () => {
  it('describes 256 MiB as low RAM, the reserved BIOS area and RAM from 1 MiB', () => {
    const e820 = buildE820(ramLayout(256 * MiB));
    assert.deepEqual(e820, [
      { address: 0, size: 0x9fc00, type: E820_RAM },
      { address: 0x9fc00, size: 0x100000 - 0x9fc00, type: E820_RESERVED },
      { address: 0x100000, size: 256 * MiB - 0x100000, type: E820_RAM },
    ]);
    assert.deepEqual(formatE820(e820), [
      'BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable',
      'BIOS-e820: [mem 0x000000000009fc00-0x00000000000fffff] reserved',
      'BIOS-e820: [mem 0x0000000000100000-0x000000000fffffff] usable',
    ]);
  });

  it('puts RAM beyond 3 GiB above 4 GiB for a 5 GiB guest', () => {
    const e820 = buildE820(ramLayout(5 * GiB));
    assert.equal(e820.length, 4);
    assert.deepEqual(e820[2], { address: 0x100000, size: 3 * GiB - 0x100000, type: E820_RAM });
    assert.deepEqual(e820[3], { address: 4 * GiB, size: 2 * GiB, type: E820_RAM });
    assert.deepEqual(formatE820(e820).slice(2), [
      'BIOS-e820: [mem 0x0000000000100000-0x00000000bfffffff] usable',
      'BIOS-e820: [mem 0x0000000100000000-0x000000017fffffff] usable',
    ]);
  });

  it('merges the contiguous 4 GiB regions of a large guest into one entry', () => {
    const e820 = buildE820(ramLayout(13 * GiB));
    assert.deepEqual(e820[3], { address: 4 * GiB, size: 10 * GiB, type: E820_RAM });
    assert.equal(e820.length, 4);
  });

  it('names types Linux prints without a name as "type N"', () => {
    assert.equal(formatE820Entry({ address: 0x1000, size: 0x1000, type: 7 }), 'BIOS-e820: [mem 0x0000000000001000-0x0000000000001fff] type 7');
  });

  it('needs RAM from 0 beyond 1 MiB (NO_MEMORY)', () => {
    assertBootError(() => buildE820(ramLayout(MiB)), 'NO_MEMORY', /only 0x100000 bytes/);
    assertBootError(() => buildE820([{ guestAddress: 4 * GiB, size: GiB }]), 'NO_MEMORY', /no RAM at address 0/);
  });
});

describe('kernel command line', () => {
  it('encodes UTF-8 with a terminating NUL', () => {
    assert.deepEqual(Array.from(encodeCmdline('a=é', 10)), [0x61, 0x3d, 0xc3, 0xa9, 0]);
    assert.equal(encodeCmdline('x'.repeat(2047), 2047).length, 2048);
  });

  it('rejects a line longer than the kernel allows (CMDLINE_TOO_LONG)', () => {
    assertBootError(() => encodeCmdline('x'.repeat(2048), 2047), 'CMDLINE_TOO_LONG', /2048 bytes, longer than the kernel's limit of 2047/);
    assertBootError(() => encodeCmdline('é'.repeat(1024), 2047), 'CMDLINE_TOO_LONG', /2048 bytes/);
  });

  it('rejects NUL bytes (BAD_CMDLINE)', () => {
    assertBootError(() => encodeCmdline('console=ttyS0\0init=/bin/sh', 2047), 'BAD_CMDLINE', /character 13/);
  });
});

describe('initrd placement', () => {
  const limits = { lowRamEnd: 256 * MiB, addressMax: 0x7fffffff, kernelEnd: 0x1400000 + 123 };

  it('puts the initrd page aligned at the top of low RAM', () => {
    const address = placeInitrd(10_000, limits);
    assert.equal(address % 4096, 0);
    assert.ok(address + 10_000 <= 256 * MiB);
    assert.ok(address + 10_000 > 256 * MiB - 4096, 'as high as possible');
  });

  it('stays at or below initrd_addr_max', () => {
    const address = placeInitrd(0x3000, { ...limits, addressMax: 0x7ffffff });
    assert.equal(address, 0x8000000 - 0x3000);
    const unaligned = placeInitrd(0x3000, { ...limits, addressMax: 0x7fff7ff });
    assert.ok(unaligned + 0x3000 - 1 <= 0x7fff7ff);
    assert.equal(unaligned % 4096, 0);
  });

  it('fills exactly the space above the page-aligned kernel end', () => {
    const space = 256 * MiB - 0x1401000;
    assert.equal(placeInitrd(space, limits), 0x1401000);
    assertBootError(() => placeInitrd(space + 1, limits), 'INITRD_TOO_LARGE', /0x1401000/);
  });

  it('rejects an initrd larger than all of low RAM (INITRD_TOO_LARGE)', () => {
    assertBootError(() => placeInitrd(512 * MiB, limits), 'INITRD_TOO_LARGE');
  });
});
