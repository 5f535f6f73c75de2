import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { parseKernel } from '../../lib/boot/kernel-image';
import { bundledGuestPath } from '../../lib/guest/bundled';
import { parseTap } from '../helpers/tap';

describe('bundled guest image', () => {
  it('is a bzImage our loader accepts, with its 64-bit entry at 1 MiB + 0x200', () => {
    const image = parseKernel(fs.readFileSync(bundledGuestPath()));
    assert.equal(image.format, 'bzimage');
    assert.ok(image.protocol >= 0x020c, 'boot protocol >= 2.12');
    assert.equal(image.entryAddress, 0x100200);
    assert.ok(image.imageSize > 0x200 && image.imageSize < 64 * 1024, `a tiny kernel (${image.imageSize} bytes)`);
    assert.ok(image.initSize >= image.imageSize, 'init_size covers the image and its bss');
  });

  it('TAP parser reads plans and test lines', () => {
    const tap = parseTap('TAP version 13\r\n1..2\r\nok 1 - a\r\nnot ok 2 - b\r\n');
    assert.equal(tap.planned, 2);
    assert.deepEqual(tap.tests.map((t) => [t.ok, t.number, t.description]), [[true, 1, 'a'], [false, 2, 'b']]);
  });
});
