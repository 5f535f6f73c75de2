// Error paths that leak nothing: a step after a system call fails (a worker terminated between the
// call and the JS object that should own its result, a setter that throws, an ioctl or fstat that
// fails) and the descriptor or mapping is released all the same. Counted in /proc/self/fd and maps.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
// The module object itself (not an import-star copy of it), so a test can replace one of its functions.
import fsModule = require('node:fs');
import * as os from 'node:os';
import * as path from 'node:path';
import { BlockFile } from '../../lib/devices/virtio/blk/file';
import { ConfigError, KvmUnavailableError } from '../../lib/kvm/errors';
import { Kvm } from '../../lib/kvm/kvm';
import { native } from '../../lib/native/binding';
import { mappingCount, openFdCount } from '../helpers/kvm';
import { missingPrerequisite } from '../helpers/prerequisite';
import { terminateWhileCreating } from '../helpers/terminated-workers';

describe('native and TS error paths release what they made', () => {
  it('workers terminated while creating eventfds, memfds, guest and file mappings and their views leave nothing open', async function () {
    this.timeout(60_000);
    const run = await terminateWhileCreating(
      `(addon, state) => {
        addon.createEventfd(0).close();
        addon.openKvm('/dev/null').close();
        const memfd = addon.memfdCreate('node-vmm-terminated');
        addon.ftruncate(memfd.fd, 65536);
        const file = addon.mapFile(memfd.fd, 65536);
        memfd.close();
        file.createView(0, 4096);
        file.unmap();
        // mapGuestMemory shares mapFile's path from the mmap to the GuestMapping and its views.
        const memory = addon.mapGuestMemory(65536);
        memory.createView(0, 4096);
        memory.unmap();
      }`,
      { workers: 40, maxMs: 15, seed: 0x7e41, mappingName: 'memfd:node-vmm-terminated' },
    );
    console.log(
      `      ${run.workers} workers terminated after ${run.iterations} iterations in all; fds ${run.fdsBefore} -> ${run.fdsAfter}; ` +
        `mappings ${run.mapsBefore} -> ${run.mapsAfter} (threads' arenas), of the memfd ${run.namedMappingsAfter}`,
    );
    assert.ok(run.iterations > run.workers, 'the workers were busy creating when terminated');
    assert.equal(run.fdsAfter, run.fdsBefore);
    assert.equal(run.namedMappingsAfter, 0);
  });

  it('openTap closes the TAP when a later step of building its result throws', function () {
    let probe;
    try {
      probe = native().openTap();
    } catch (error) {
      missingPrerequisite(this, `no TAP device can be created here (${(error as Error).message})`, 'run as root with /dev/net/tun');
    }
    probe.handle.close();
    const before = openFdCount();
    Object.defineProperty(Object.prototype, 'handle', {
      configurable: true,
      set() {
        throw new Error('setter refuses');
      },
    });
    try {
      assert.throws(() => native().openTap(), /setter refuses/);
    } finally {
      delete (Object.prototype as Record<string, unknown>).handle;
    }
    assert.equal(openFdCount(), before);
  });

  it('Kvm.open closes the device when KVM_GET_API_VERSION fails (not a KVM device)', () => {
    const before = openFdCount();
    assert.throws(() => Kvm.open('/dev/null'), (error: unknown) => {
      assert.ok(error instanceof KvmUnavailableError);
      assert.match(error.message, /\/dev\/null is not a KVM device: KVM_GET_API_VERSION failed: ENOTTY/);
      return true;
    });
    assert.equal(openFdCount(), before);
  });

  it('BlockFile closes its file when fstat fails', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-vmm-blk-'));
    const disk = path.join(dir, 'disk.img');
    fs.writeFileSync(disk, Buffer.alloc(4096));
    const fstatSync = fsModule.fstatSync;
    const before = openFdCount();
    const mapsBefore = mappingCount();
    (fsModule as { fstatSync: unknown }).fstatSync = () => {
      throw Object.assign(new Error('EIO: i/o error, fstat'), { code: 'EIO' });
    };
    try {
      assert.throws(() => new BlockFile(disk), (error: unknown) => error instanceof ConfigError && /cannot stat .*EIO/.test(error.message));
    } finally {
      fsModule.fstatSync = fstatSync;
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(openFdCount(), before);
    assert.ok(mappingCount() <= mapsBefore + 2);
  });
});
