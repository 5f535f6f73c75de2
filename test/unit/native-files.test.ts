// The addon's file primitives: memfdCreate, ftruncate, mapFile (copy-on-write or shared guest memory
// from a file) and pwriteFromMapping / preadIntoMapping (guest memory to and from a file, no JS copy).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native, NativeFdHandle, NativeGuestMapping } from '../../lib/native/binding';
import { Cleanup } from '../helpers/cleanup';

const PAGE = 4096;

interface SyscallError extends Error {
  syscall?: string;
  code?: string;
  errno?: number;
}

function failsWith(syscall: string, code: string): (error: SyscallError) => boolean {
  return (error) => {
    assert.equal(error.syscall, syscall, error.message);
    assert.equal(error.code, code, error.message);
    assert.equal(typeof error.errno, 'number');
    assert.match(error.message, new RegExp(`failed: ${code}`));
    return true;
  };
}

describe('native file primitives', () => {
  const addon = native();
  let cleanup: Cleanup;
  beforeEach(() => {
    cleanup = new Cleanup();
  });
  afterEach(() => cleanup.run());

  const memfd = (name = 'node-vmm-test'): NativeFdHandle => cleanup.add(addon.memfdCreate(name), (h) => h.close());
  const mapping = (m: NativeGuestMapping): NativeGuestMapping => cleanup.add(m, (x) => x.unmap());

  it('memfdCreate makes an empty, close-on-exec anonymous file that ftruncate grows', () => {
    const file = memfd('node-vmm-snapshot');
    assert.equal(fs.fstatSync(file.fd).size, 0);
    assert.match(fs.readlinkSync(`/proc/self/fd/${file.fd}`), /^\/memfd:node-vmm-snapshot/);
    const flags = fs.readFileSync(`/proc/self/fdinfo/${file.fd}`, 'utf8').match(/^flags:\s+(\d+)/m)?.[1];
    assert.ok(flags !== undefined && (parseInt(flags, 8) & 0o2000000) !== 0, 'O_CLOEXEC is set');
    addon.ftruncate(file.fd, 3 * PAGE);
    assert.equal(fs.fstatSync(file.fd).size, 3 * PAGE);
    addon.ftruncate(file.fd, 1n);
    assert.equal(fs.fstatSync(file.fd).size, 1);
  });

  it('memfdCreate and ftruncate validate their arguments and report errno', () => {
    assert.throws(() => addon.memfdCreate(7 as unknown as string), TypeError);
    assert.throws(() => addon.memfdCreate('x'.repeat(250)), RangeError);
    assert.throws(() => addon.memfdCreate('a\0b'), RangeError);
    assert.throws(() => addon.ftruncate(-1, 0), RangeError);
    assert.throws(() => addon.ftruncate(0, 2n ** 63n), RangeError);
    assert.throws(() => addon.ftruncate(0, -1), RangeError);
    const pipe = fs.openSync('/proc/self/cmdline', 'r');
    cleanup.defer(() => fs.closeSync(pipe));
    assert.throws(() => addon.ftruncate(pipe, 0), failsWith('ftruncate', 'EINVAL'));
    assert.throws(() => addon.ftruncate(987654, 0), failsWith('ftruncate', 'EBADF'));
  });

  it('mapFile maps a file copy-on-write: the guest sees its bytes, its writes never reach the file', () => {
    const file = memfd();
    addon.ftruncate(file.fd, 4 * PAGE);
    const pattern = Buffer.alloc(2 * PAGE, 0xa5);
    fs.writeSync(file.fd, pattern, 0, pattern.length, PAGE);
    const cow = mapping(addon.mapFile(file.fd, 2 * PAGE, { offset: PAGE }));
    assert.equal(cow.size, 2 * PAGE);
    assert.equal(cow.address % BigInt(PAGE), 0n);
    const view = new Uint8Array(cow.createView(0, 2 * PAGE));
    assert.equal(view[0], 0xa5);
    assert.equal(view[2 * PAGE - 1], 0xa5);
    view.fill(0x11, 0, PAGE);
    const back = Buffer.alloc(PAGE);
    fs.readSync(file.fd, back, 0, PAGE, PAGE);
    assert.ok(back.every((b) => b === 0xa5), 'the file keeps its bytes');
    // The same GuestMapping as mapGuestMemory's: viewable by address, advisable, unmappable.
    assert.equal(new Uint8Array(addon.viewGuestMemory(cow.address, PAGE))[5], 0x11);
    cow.madvise(0, PAGE, addon.constants.madvise.dontneed);
    assert.equal(view[5], 0xa5, 'MADV_DONTNEED drops the private copy: the file page shows again');
    cow.unmap();
    assert.equal(view.byteLength, 0, 'views are detached by unmap()');
    assert.throws(() => addon.viewGuestMemory(cow.address, PAGE), RangeError);
  });

  it('mapFile with private: false maps it shared: writes reach the file', () => {
    const file = memfd();
    addon.ftruncate(file.fd, PAGE);
    const shared = mapping(addon.mapFile(file.fd, PAGE, { private: false }));
    new Uint8Array(shared.createView(0, PAGE)).fill(0x42, 100, 200);
    const back = Buffer.alloc(PAGE);
    fs.readSync(file.fd, back, 0, PAGE, 0);
    assert.equal(back[99], 0);
    assert.equal(back[100], 0x42);
    assert.equal(back[199], 0x42);
  });

  it('mapFile refuses ranges past the end of the file, unaligned offsets, bad options and non-files', () => {
    const file = memfd();
    addon.ftruncate(file.fd, 2 * PAGE);
    assert.throws(() => addon.mapFile(file.fd, 3 * PAGE), /inside the file \(8192 bytes\)/);
    assert.throws(() => addon.mapFile(file.fd, 2 * PAGE, { offset: PAGE }), RangeError);
    assert.throws(() => addon.mapFile(file.fd, PAGE, { offset: 3 * PAGE }), RangeError);
    assert.throws(() => addon.mapFile(file.fd, PAGE, { offset: 100 }), /options.offset/);
    assert.throws(() => addon.mapFile(file.fd, 100), RangeError);
    assert.throws(() => addon.mapFile(file.fd, 0), RangeError);
    assert.throws(() => addon.mapFile(file.fd, PAGE, { private: 'yes' as unknown as boolean }), TypeError);
    assert.throws(() => addon.mapFile(file.fd, PAGE, 5 as unknown as { private: boolean }), TypeError);
    assert.throws(() => addon.mapFile(987654, PAGE), failsWith('fstat', 'EBADF'));
    const efd = cleanup.add(addon.createEventfd(0), (h) => h.close());
    assert.throws(() => addon.mapFile(efd.fd, PAGE), failsWith('mapFile (not a regular file or memfd)', 'ENODEV'));
    const readOnly = fs.openSync(`/proc/self/fd/${file.fd}`, 'r');
    cleanup.defer(() => fs.closeSync(readOnly));
    mapping(addon.mapFile(readOnly, PAGE)); // copy-on-write needs no write access to the file
    assert.throws(() => addon.mapFile(readOnly, PAGE, { private: false }), failsWith('mmap(MAP_SHARED)', 'EACCES'));
  });

  it('pwriteFromMapping and preadIntoMapping move guest memory to and from a file', () => {
    const memory = mapping(addon.mapGuestMemory(4 * PAGE));
    const view = new Uint8Array(memory.createView(0, 4 * PAGE));
    for (let i = 0; i < view.length; i++) view[i] = (i * 7) & 0xff;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-vmm-files-'));
    cleanup.defer(() => fs.rmSync(dir, { recursive: true, force: true }));
    const fd = fs.openSync(path.join(dir, 'memory'), 'w+');
    cleanup.defer(() => fs.closeSync(fd));
    assert.equal(addon.pwriteFromMapping(fd, memory, PAGE, 2 * PAGE + 10, 100), 2 * PAGE + 10);
    assert.equal(fs.fstatSync(fd).size, 100 + 2 * PAGE + 10);
    const written = fs.readFileSync(path.join(dir, 'memory'));
    assert.deepEqual(written.subarray(100), Buffer.from(view.subarray(PAGE, 3 * PAGE + 10)));
    assert.equal(addon.pwriteFromMapping(fd, memory, 0, 0, 0), 0);

    view.fill(0);
    assert.equal(addon.preadIntoMapping(fd, memory, 3, 2 * PAGE + 10, 100n), 2 * PAGE + 10);
    assert.deepEqual(Buffer.from(view.subarray(3, 3 + 2 * PAGE + 10)), written.subarray(100));
    assert.equal(view[2], 0);
    // Past the end of the file: what is there, then 0.
    assert.equal(addon.preadIntoMapping(fd, memory, 0, PAGE, 2 * PAGE), 110);
    assert.equal(addon.preadIntoMapping(fd, memory, 0, PAGE, 10 * PAGE), 0);
  });

  it('pwriteFromMapping and preadIntoMapping validate their arguments and report errno', () => {
    const memory = mapping(addon.mapGuestMemory(2 * PAGE));
    const fd = fs.openSync('/dev/null', 'r+');
    cleanup.defer(() => fs.closeSync(fd));
    assert.throws(() => addon.pwriteFromMapping(fd, {} as NativeGuestMapping, 0, 1, 0), /must be a GuestMapping/);
    const efd = cleanup.add(addon.createEventfd(0), (h) => h.close());
    assert.throws(() => addon.pwriteFromMapping(fd, efd as unknown as NativeGuestMapping, 0, 1, 0), TypeError);
    assert.throws(() => addon.pwriteFromMapping(fd, memory, PAGE, PAGE + 1, 0), RangeError);
    assert.throws(() => addon.preadIntoMapping(fd, memory, 2 * PAGE + 1, 0, 0), RangeError);
    assert.throws(() => addon.pwriteFromMapping(fd, memory, 0, 1, 2n ** 63n - 1n), /below 2\^63/);
    assert.throws(() => addon.pwriteFromMapping(fd, memory, 0, 1, -1), RangeError);
    assert.throws(() => addon.pwriteFromMapping(987654, memory, 0, 1, 0), failsWith('pwrite', 'EBADF'));
    assert.throws(() => addon.preadIntoMapping(efd.fd, memory, 0, 8, 0), failsWith('pread', 'ESPIPE'));
    const directory = fs.openSync(os.tmpdir(), 'r');
    cleanup.defer(() => fs.closeSync(directory));
    assert.throws(() => addon.preadIntoMapping(directory, memory, 0, 8, 0), failsWith('pread', 'EISDIR'));
    const gone = addon.mapGuestMemory(PAGE);
    gone.unmap();
    assert.throws(() => addon.pwriteFromMapping(fd, gone, 0, 1, 0), failsWith('mapping (mapping is unmapped)', 'EBADF'));
  });
});
