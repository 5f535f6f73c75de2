// The Linux test kernel's recipe, without building it: the fragment check and the cache key.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { configValues, droppedOptions } from '../linux/build-kernel';
import { fragmentHash, KERNEL_FRAGMENT } from '../linux/test-kernel';

describe('the Linux test kernel recipe', () => {
  it('reads set and unset options from a config', () => {
    const values = configValues('CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="text"\n# a comment\nCONFIG_D=0x10\n');
    assert.deepEqual([...values], [
      ['CONFIG_A', 'y'],
      ['CONFIG_B', 'n'],
      ['CONFIG_C', '"text"'],
      ['CONFIG_D', '0x10'],
    ]);
  });

  it('names every fragment option the final config lost or changed', () => {
    const fragment = 'CONFIG_KEPT=y\nCONFIG_DROPPED=y\n# CONFIG_OFF is not set\nCONFIG_TURNED_ON_ELSEWHERE=y\n';
    const config = 'CONFIG_KEPT=y\n# CONFIG_DROPPED is not set\nCONFIG_OFF=y\nCONFIG_TURNED_ON_ELSEWHERE=y\n';
    assert.deepEqual(droppedOptions(fragment, config), ['CONFIG_DROPPED=y (got n)', 'CONFIG_OFF=n (got y)']);
  });

  it('keys the cache on the fragment: another fragment, another hash', () => {
    const fragment = fs.readFileSync(KERNEL_FRAGMENT, 'utf8');
    assert.match(fragmentHash(fragment), /^[0-9a-f]{12}$/);
    assert.equal(fragmentHash(fragment), fragmentHash());
    assert.notEqual(fragmentHash(`${fragment}CONFIG_EXTRA=y\n`), fragmentHash(fragment));
  });

  it('asks for the drivers the test checks, all built in', () => {
    const options = configValues(fs.readFileSync(KERNEL_FRAGMENT, 'utf8'));
    for (const option of ['VIRTIO_MMIO', 'VIRTIO_MMIO_CMDLINE_DEVICES', 'VIRTIO_BLK', 'EXT4_FS', 'VIRTIO_NET', 'IP_PNP_DHCP', 'HW_RANDOM_VIRTIO', 'VIRTIO_VSOCKETS', 'SERIAL_8250_CONSOLE', 'DYNAMIC_DEBUG']) {
      assert.equal(options.get(`CONFIG_${option}`), 'y', option);
    }
    assert.ok(![...options.values()].includes('m'), 'no modules');
  });
});
