// virtio-blk (virtio 1.2, 5.2) backed by a host file: read, write, flush (fsync before the request
// completes), get-id, discard and write-zeroes (both as zero writes: Node has no hole punching),
// an optional read-only mode, capacity from the file size. Data moves between the file and guest
// memory with readv/writev straight into the descriptor views: no intermediate JS buffers.
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { ConfigError } from '../../../kvm/errors';
import { BLK_SEGMENT_SIZE, BlkRequest, BlkRequestType, BlkStatus, parseBlkRequest, SECTOR_SIZE } from './request';
import { VirtqueueError } from '../transport/errors';
import { deviceBroken, openQueues, signalUsed } from '../transport/backend-support';
import type { BackendContext, VirtioBackend } from '../transport/mmio-device';
import { VirtioDeviceId, VirtioFeature } from '../transport/mmio-registers';
import type { VirtioDeviceDescription } from '../transport/mmio-state';
import type { SplitVirtqueue } from '../transport/split-virtqueue';

const readv = promisify(fs.readv);
const writev = promisify(fs.writev);
const write = promisify(fs.write);
const fsync = promisify(fs.fsync);

export const BLK_QUEUE_SIZE = 256;
const SEG_MAX = BLK_QUEUE_SIZE - 2;
const ID_BYTES = 20;
const ZERO_CHUNK = 64 * 1024;
const MAX_DISCARD_SECTORS = 0x3fffff;
const MAX_SEGMENTS = 1;
const CONFIG_SIZE = 60;

export const BlkFeature = { SEG_MAX: 2n, RO: 5n, BLK_SIZE: 6n, FLUSH: 9n, DISCARD: 13n, WRITE_ZEROES: 14n } as const;

export interface BlockFileOptions {
  readOnly?: boolean;
  /** Up to 20 bytes returned for GET_ID (default: the file's base name). */
  id?: string;
}

export class BlockFile {
  readonly fd: number;
  readonly sectors: bigint;
  readonly readOnly: boolean;
  readonly id: Buffer;

  constructor(path: string, options: BlockFileOptions = {}) {
    this.readOnly = options.readOnly ?? false;
    try {
      this.fd = fs.openSync(path, this.readOnly ? 'r' : 'r+');
    } catch (error) {
      throw new ConfigError(`virtio-blk: cannot open ${path}: ${(error as Error).message}`, { cause: error });
    }
    try {
      this.sectors = BigInt(fs.fstatSync(this.fd).size) / BigInt(SECTOR_SIZE);
    } catch (error) {
      fs.closeSync(this.fd);
      throw new ConfigError(`virtio-blk: cannot stat ${path}: ${(error as Error).message}`, { cause: error });
    }
    this.id = Buffer.from((options.id ?? path.split('/').at(-1) ?? '').slice(0, ID_BYTES));
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

export function blkDevice(file: BlockFile): VirtioDeviceDescription {
  const config = Buffer.alloc(CONFIG_SIZE);
  config.writeBigUInt64LE(file.sectors, 0);
  config.writeUInt32LE(SEG_MAX, 12);
  config.writeUInt32LE(SECTOR_SIZE, 20);
  config.writeUInt32LE(MAX_DISCARD_SECTORS, 36);
  config.writeUInt32LE(MAX_SEGMENTS, 40);
  config.writeUInt32LE(1, 44);
  config.writeUInt32LE(MAX_DISCARD_SECTORS, 48);
  config.writeUInt32LE(MAX_SEGMENTS, 52);
  const bits = [VirtioFeature.INDIRECT_DESC, BlkFeature.SEG_MAX, BlkFeature.BLK_SIZE, BlkFeature.FLUSH, ...(file.readOnly ? [BlkFeature.RO] : [BlkFeature.DISCARD, BlkFeature.WRITE_ZEROES])];
  return { deviceId: VirtioDeviceId.BLOCK, features: bits.reduce((all, bit) => all | (1n << bit), 0n), queueSizes: [BLK_QUEUE_SIZE], config };
}

export class VirtioBlkBackend implements VirtioBackend {
  readonly #context: BackendContext;
  readonly #file: BlockFile;
  #queue: SplitVirtqueue | undefined;
  #draining = false;
  #again = false;
  /** Requests completed, by status. */
  readonly completed = { ok: 0, ioerr: 0, unsupp: 0 };
  /** A host-side failure that stopped the device (guest errors are VirtqueueErrors and not kept here). */
  error: Error | undefined;

  constructor(context: BackendContext, file: BlockFile) {
    this.#context = context;
    this.#file = file;
  }

  activate(): void {
    this.#queue = openQueues(this.#context, [0])?.[0];
  }

  reset(): void {
    this.#queue = undefined;
  }

  notify(): void {
    if (this.#draining) {
      this.#again = true;
      return;
    }
    void this.#drain();
  }

  /** Resolves once every request made available so far is complete (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.#draining) await new Promise((resolve) => setImmediate(resolve));
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      do {
        this.#again = false;
        const queue = this.#queue;
        if (queue === undefined || queue.failure !== undefined) return;
        for (let chain = queue.pop(); chain !== undefined; chain = queue.pop()) {
          const request = parseBlkRequest(chain);
          if (request === undefined) throw new VirtqueueError('BUFFER_OUT_OF_RANGE', `block request ${chain.head} has no header or no status byte`);
          const written = await this.#serve(request);
          if (this.#queue !== queue) return; // reset while the I/O ran
          queue.pushUsed(chain.head, written);
          signalUsed(this.#context, queue);
        }
      } while (this.#again);
    } catch (error) {
      this.error = deviceBroken(this.#context, error) ?? this.error;
    } finally {
      this.#draining = false;
    }
  }

  /** Does the request; returns the bytes written into the chain (data + status). */
  async #serve(request: BlkRequest): Promise<number> {
    let status: number = BlkStatus.OK;
    let dataWritten = 0;
    try {
      switch (request.type) {
        case BlkRequestType.IN:
          this.#checkRange(request.sector, request.writableBytes);
          if ((await readv(this.#file.fd, request.writable, Number(request.sector) * SECTOR_SIZE)).bytesRead !== request.writableBytes) status = BlkStatus.IOERR;
          else dataWritten = request.writableBytes;
          break;
        case BlkRequestType.OUT:
          if (this.#file.readOnly) throw new Error('read-only');
          this.#checkRange(request.sector, request.readableBytes);
          if ((await writev(this.#file.fd, request.readable, Number(request.sector) * SECTOR_SIZE)).bytesWritten !== request.readableBytes) status = BlkStatus.IOERR;
          break;
        case BlkRequestType.FLUSH:
          if (!this.#file.readOnly) await fsync(this.#file.fd);
          break;
        case BlkRequestType.GET_ID: {
          let offset = 0;
          for (const view of request.writable) {
            const part = this.#file.id.subarray(offset, offset + view.length);
            view.fill(0);
            view.set(part);
            offset += view.length;
          }
          dataWritten = Math.min(request.writableBytes, ID_BYTES);
          break;
        }
        case BlkRequestType.DISCARD:
        case BlkRequestType.WRITE_ZEROES:
          if (this.#file.readOnly) throw new Error('read-only');
          await this.#zeroSegments(request);
          break;
        default:
          status = BlkStatus.UNSUPP;
      }
    } catch {
      status = BlkStatus.IOERR;
    }
    request.status[0] = status;
    if (status === BlkStatus.OK) this.completed.ok++;
    else if (status === BlkStatus.IOERR) this.completed.ioerr++;
    else this.completed.unsupp++;
    return (status === BlkStatus.OK ? dataWritten : 0) + 1;
  }

  #checkRange(sector: bigint, bytes: number): void {
    if (bytes % SECTOR_SIZE !== 0) throw new Error('data is not a whole number of sectors');
    if (sector + BigInt(bytes / SECTOR_SIZE) > this.#file.sectors) throw new Error('beyond the end of the disk');
  }

  async #zeroSegments(request: BlkRequest): Promise<void> {
    if (request.readableBytes === 0 || request.readableBytes % BLK_SEGMENT_SIZE !== 0 || request.readableBytes / BLK_SEGMENT_SIZE > MAX_SEGMENTS) throw new Error('bad segment list');
    const segments = Buffer.concat(request.readable);
    const zeros = Buffer.alloc(ZERO_CHUNK);
    for (let at = 0; at < segments.length; at += BLK_SEGMENT_SIZE) {
      const sector = segments.readBigUInt64LE(at);
      const count = segments.readUInt32LE(at + 8);
      if (count > MAX_DISCARD_SECTORS) throw new Error('segment too long');
      this.#checkRange(sector, count * SECTOR_SIZE);
      let position = Number(sector) * SECTOR_SIZE;
      let left = count * SECTOR_SIZE;
      while (left > 0) {
        const chunk = Math.min(left, ZERO_CHUNK);
        await write(this.#file.fd, zeros, 0, chunk, position);
        position += chunk;
        left -= chunk;
      }
    }
  }
}
