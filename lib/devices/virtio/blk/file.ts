// The host file behind a virtio-blk device, opened on the main thread (so a missing or unreadable file
// is refused before any VM exists); the back end uses its fd from whichever thread it runs on, and
// the device closes it once the back end has quiesced.
import * as fs from 'node:fs';
import { ConfigError } from '../../../kvm/errors';
import { SECTOR_SIZE } from './request';

/** Bytes of GET_ID's answer (virtio 1.2, 5.2.6). */
export const BLK_ID_BYTES = 20;

export interface BlockFileOptions {
  readOnly?: boolean;
  /** Up to 20 bytes returned for GET_ID (default: the file's base name). */
  id?: string;
}

export class BlockFile {
  readonly path: string;
  readonly fd: number;
  readonly sectors: bigint;
  readonly readOnly: boolean;
  readonly id: Uint8Array;
  /** The file's device and inode: which file it is, whatever path named it. */
  readonly identity: string;
  #closed = false;

  constructor(path: string, options: BlockFileOptions = {}) {
    this.path = path;
    this.readOnly = options.readOnly ?? false;
    let fd: number;
    try {
      fd = fs.openSync(path, this.readOnly ? 'r' : 'r+');
    } catch (error) {
      throw new ConfigError(`virtio-blk: cannot open ${path}: ${(error as Error).message}`, { cause: error });
    }
    let stat: fs.Stats;
    try {
      stat = fs.fstatSync(fd);
    } catch (error) {
      fs.closeSync(fd);
      throw new ConfigError(`virtio-blk: cannot stat ${path}: ${(error as Error).message}`, { cause: error });
    }
    if (!stat.isFile() && !stat.isBlockDevice()) {
      fs.closeSync(fd);
      throw new ConfigError(`virtio-blk: ${path} is not a regular file or block device`);
    }
    this.sectors = BigInt(stat.size) / BigInt(SECTOR_SIZE);
    this.identity = `${stat.dev}:${stat.ino}`;
    this.fd = fd;
    this.id = Uint8Array.from(Buffer.from((options.id ?? path.split('/').at(-1) ?? '').slice(0, BLK_ID_BYTES)).subarray(0, BLK_ID_BYTES));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    fs.closeSync(this.fd);
  }
}
