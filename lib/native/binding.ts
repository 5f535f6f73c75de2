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
}

export interface NativeVcpuHandle extends NativeFdHandle {
  readonly id: number;
  readonly kickToken: number;
  readonly runBuffer: ArrayBuffer;
  run(): number;
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
  viewGuestMemory(address: bigint, length: number): ArrayBuffer;
  ioctlStruct(fd: number, id: number, bytes: ArrayBufferView | ArrayBuffer): number;
  ioctlValue(fd: number, id: number, arg: number | bigint): number;
  createEventfd(initialValue: number, nonblocking?: boolean, semaphore?: boolean): NativeFdHandle;
  eventfdRead(fd: number): bigint | null;
  eventfdWrite(fd: number, value: bigint | number): void;
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
    // node-gyp-build looks in prebuilds/ and build/Release (node-gyp and cmake-js both build there).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const load = require('node-gyp-build') as (dir: string) => unknown;
    loaded = load(PACKAGE_ROOT) as NativeAddon;
  }
  return loaded;
}
