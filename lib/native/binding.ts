// Loads the native addon (a prebuild, the node-gyp build or the cmake-js build) and types its surface.
import * as path from 'node:path';

export interface NativeFdHandle {
  readonly fd: number;
  readonly closed: boolean;
  close(): void;
}

export interface NativeVmHandle extends NativeFdHandle {
  setUserMemoryRegion(slot: number, flags: number, guestAddress: bigint | number, hostAddress: bigint, size: bigint | number): void;
  getDirtyLog(slot: number): ArrayBuffer;
  /** Closes the fd on a libuv pool thread (tearing down a VM with a PIT takes milliseconds). */
  closeInBackground(): Promise<void>;
}

export interface NativeVcpuHandle extends NativeFdHandle {
  readonly id: number;
  readonly kickToken: number;
  readonly runBuffer: ArrayBuffer;
  run(): number;
  setRunClock(counters: Float64Array, index: number): void;
}

export interface NativeGuestMapping {
  readonly address: bigint;
  readonly size: number;
  readonly unmapped: boolean;
  createView(offset: number, length: number): ArrayBuffer;
  madvise(offset: number, length: number, advice: number): void;
  unmap(): void;
}

export interface NativeFdWatcher {
  readonly closed: boolean;
  close(): void;
}

export type StructShape = 'fixed' | 'msrs' | 'cpuid2' | 'msr-list';

export interface NativeAddon {
  openKvm(path?: string): NativeFdHandle;
  createVm(kvmFd: number, machineType?: number): NativeVmHandle;
  createVcpu(kvmFd: number, vmFd: number, vcpuId: number): NativeVcpuHandle;
  kickVcpu(token: number): boolean;
  mapGuestMemory(size: number | bigint, options?: { hugepages?: boolean }): NativeGuestMapping;
  /**
   * Maps `size` bytes of a regular file or memfd, from `options.offset` (page aligned, default 0), as guest
   * memory: the same GuestMapping as mapGuestMemory's (page aligned, published for viewGuestMemory and
   * memory slots, unmapped by unmap()). `options.private` (default true) maps it MAP_PRIVATE|MAP_NORESERVE:
   * copy-on-write, the file never changes (guest memory restored from a snapshot file); false maps it
   * MAP_SHARED, so writes reach the file. The range must lie inside the file; truncating the file while
   * it is mapped makes a touch of the lost pages raise SIGBUS, so keep the file as it is until unmap().
   * @throws TypeError or RangeError for a bad argument (not an integer fd, size not a non-zero page
   *   multiple, unaligned offset, a range past the end of the file); an Error with `syscall`
   *   ('fstat', 'mmap(MAP_PRIVATE)', 'mmap(MAP_SHARED)'), `errno` and `code` when a system call fails,
   *   ENODEV when fd is not a regular file or memfd.
   */
  mapFile(fd: number, size: number | bigint, options?: { private?: boolean; offset?: number | bigint }): NativeGuestMapping;
  viewGuestMemory(address: bigint, length: number): ArrayBuffer;
  ioctlStruct(fd: number, id: number, bytes: ArrayBufferView | ArrayBuffer): number;
  ioctlValue(fd: number, id: number, arg: number | bigint): number;
  createEventfd(initialValue: number, nonblocking?: boolean, semaphore?: boolean): NativeFdHandle;
  eventfdRead(fd: number): bigint | null;
  eventfdWrite(fd: number, value: bigint | number): void;
  /**
   * memfd_create(name, MFD_CLOEXEC): an anonymous in-memory file of size 0 (grow it with ftruncate),
   * owned by the returned handle.
   * @throws TypeError or RangeError when name is not a string of at most 249 bytes without NUL; an Error
   *   with `syscall` 'memfd_create', `errno` and `code` when the call fails.
   */
  memfdCreate(name: string): NativeFdHandle;
  /**
   * ftruncate(fd, size), retried on EINTR.
   * @throws TypeError or RangeError for a bad fd or a size of 2^63 or more; an Error with `syscall`
   *   'ftruncate', `errno` and `code` when the call fails.
   */
  ftruncate(fd: number, size: number | bigint): void;
  /**
   * Writes `length` bytes of guest memory, from `offset` in `mapping`, to `fd` at `fileOffset` with
   * pwrite(2), straight from the mapping (no JS copy), continuing after short writes and EINTR. Blocks
   * the calling thread. Returns the number of bytes written: always `length`.
   * @throws TypeError or RangeError for a bad argument (mapping not a GuestMapping, a range outside it,
   *   fileOffset + length of 2^63 or more); an Error with `syscall` 'pwrite', `errno` and `code` when a
   *   write fails (EIO when one makes no progress), EBADF when the mapping is unmapped.
   */
  pwriteFromMapping(fd: number, mapping: NativeGuestMapping, offset: number | bigint, length: number | bigint, fileOffset: number | bigint): number;
  /**
   * Reads up to `length` bytes from `fd` at `fileOffset` with pread(2) straight into guest memory at
   * `offset` in `mapping`, continuing after short reads and EINTR. Blocks the calling thread. Returns
   * the number of bytes read: less than `length` only when the file ends first.
   * @throws as pwriteFromMapping, with `syscall` 'pread'.
   */
  preadIntoMapping(fd: number, mapping: NativeGuestMapping, offset: number | bigint, length: number | bigint, fileOffset: number | bigint): number;
  /** Calls onReadable on this thread's event loop whenever fd is readable (status < 0: a poll error). */
  watchFd(fd: number, onReadable: (status: number) => void): NativeFdWatcher;
  openTap(name?: string): { handle: NativeFdHandle; name: string };
  /** One readv; null when nothing is there (EAGAIN). */
  readvFd(fd: number, buffers: Uint8Array[]): number | null;
  /** One writev; null when the descriptor cannot take it now (EAGAIN). */
  writevFd(fd: number, buffers: Uint8Array[]): number | null;
  readonly ioctls: {
    readonly structs: Readonly<Record<string, { readonly id: number; readonly size: number; readonly shape: StructShape }>>;
    readonly values: Readonly<Record<string, number>>;
  };
  readonly constants: {
    readonly pageSize: number;
    readonly kickSignal: number;
    readonly madvise: Readonly<Record<'normal' | 'willneed' | 'dontneed' | 'mergeable' | 'unmergeable' | 'hugepage' | 'nohugepage' | 'dontdump' | 'dodump', number>>;
    readonly runLayout: Readonly<Record<string, number>>;
  };
}

/** The package root: dist/lib/native -> three levels up. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');

let loaded: NativeAddon | undefined;

export function native(): NativeAddon {
  if (loaded === undefined) {
    // node-gyp-build looks in build/Release (node-gyp and cmake-js both build there), then in
    // prebuilds/linux-x64 (the prebuild the npm package carries). With NODE_VMM_PREBUILD=DIR set (its own
    // rule: the package name in capitals + _PREBUILD) it looks in DIR/build/Release and DIR/prebuilds
    // instead: `npm run test:asan` points it at the sanitizer build that way (README, Tests).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const load = require('node-gyp-build') as (dir: string) => unknown;
    loaded = load(PACKAGE_ROOT) as NativeAddon;
  }
  return loaded;
}
