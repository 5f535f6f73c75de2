// A snapshot as two files, as Firecracker keeps them: the state file (format.ts) and the memory file
// (guest RAM, region after region, sparse: pages never written are holes). `{ path }` is a directory
// holding both under fixed names.
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import type { GuestMemory } from '../../memory/guest-memory';
import { SnapshotError } from './errors';
import { decodeSnapshotState, encodeSnapshotState } from './format';
import { writeMemoryImage } from './memory-image';
import { checkSnapshotState, type SnapshotState } from './state';

export const STATE_FILE_NAME = 'vm.state';
export const MEMORY_FILE_NAME = 'vm.mem';

/** Where a snapshot's files are: the two paths, or a directory holding `vm.state` and `vm.mem`. */
export type SnapshotFiles = { statePath: string; memoryPath: string } | { path: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

export function isSnapshotFiles(value: unknown): value is SnapshotFiles {
  return isRecord(value) && ((typeof value.statePath === 'string' && typeof value.memoryPath === 'string') || typeof value.path === 'string');
}

export function resolveSnapshotFiles(files: SnapshotFiles): { statePath: string; memoryPath: string } {
  if ('path' in files) return { statePath: nodePath.join(files.path, STATE_FILE_NAME), memoryPath: nodePath.join(files.path, MEMORY_FILE_NAME) };
  return { statePath: files.statePath, memoryPath: files.memoryPath };
}

function ioError(what: string, path: string, error: unknown): SnapshotError {
  return new SnapshotError('IO', `${what} ${path}: ${(error as Error).message}`, { cause: error });
}

export function writeSnapshotFiles(files: SnapshotFiles, state: SnapshotState, memory: GuestMemory): void {
  const { statePath, memoryPath } = resolveSnapshotFiles(files);
  if ('path' in files) {
    try {
      fs.mkdirSync(files.path, { recursive: true });
    } catch (error) {
      throw ioError('cannot create the snapshot directory', files.path, error);
    }
  }
  let fd: number;
  try {
    fd = fs.openSync(memoryPath, 'w');
  } catch (error) {
    throw ioError('cannot create the memory file', memoryPath, error);
  }
  try {
    writeMemoryImage(memory, state.memory, fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.writeFileSync(statePath, encodeSnapshotState(state));
  } catch (error) {
    throw ioError('cannot write the state file', statePath, error);
  }
}

/** Reads and checks the state file and opens the memory file (its size checked); the caller closes the fd. */
export function openSnapshotFiles(files: SnapshotFiles): { state: SnapshotState; memoryFd: number } {
  const { statePath, memoryPath } = resolveSnapshotFiles(files);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(statePath);
  } catch (error) {
    throw ioError('cannot read the state file', statePath, error);
  }
  const state = decodeSnapshotState(bytes);
  checkSnapshotState(state);
  let fd: number;
  try {
    fd = fs.openSync(memoryPath, 'r');
  } catch (error) {
    throw ioError('cannot open the memory file', memoryPath, error);
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size !== state.memory.fileSize) throw new SnapshotError('MEMORY_SIZE', `the memory file ${memoryPath} is ${size} bytes, the snapshot's memory ${state.memory.fileSize}`);
  } catch (error) {
    fs.closeSync(fd);
    throw error instanceof SnapshotError ? error : ioError('cannot stat the memory file', memoryPath, error);
  }
  return { state, memoryFd: fd };
}
