// The virtio-blk back end: serves requests on its host thread (an I/O thread) with synchronous
// preadv/pwritev straight between the file and the descriptors' views of guest memory (no copies),
// fsync for FLUSH, zero writes for DISCARD and WRITE_ZEROES (Node has no hole punching). Every chain
// made available is served per notification, at most a queue's worth per turn of the event loop
// (then it yields and goes on), with one used-ring update and at most one interrupt per batch.
// Nothing is in flight between turns, so a pause or quiesce is over as soon as it returns.
import { VmmError } from '../../../kvm/errors';
import * as fs from 'node:fs';
import type { DeviceCounters } from '../../counters';
import type { BackendContext } from '../transport/backend';
import { VirtqueueError } from '../transport/errors';
import { QueueTurnBackend } from '../transport/queue-turns';
import type { SplitVirtqueue } from '../transport/split-virtqueue';
import { BLK_ID_BYTES } from './file';
import { BLK_SEGMENT_SIZE, BLK_WRITE_ZEROES_UNMAP, type BlkRequest, BlkRequestType, BlkStatus, MAX_DISCARD_SECTORS, MAX_DISCARD_SEGMENTS, parseBlkRequest, SECTOR_SIZE } from './request';

/** Chains served per turn of the event loop before yielding (the queue size)... */
export const BLK_CHAINS_PER_TURN = 256;
/** ...and data bytes: a turn ends once this much has moved, so quiesce and other devices wait little. */
export const BLK_BYTES_PER_TURN = 8 * 1024 * 1024;
const ZERO_CHUNK = 64 * 1024;
const ZEROS = new Uint8Array(ZERO_CHUNK);

export const BLK_COUNTERS = ['reads', 'writes', 'flushes', 'readBytes', 'writeBytes', 'ok', 'ioerr', 'unsupp', 'serviceNs'] as const;
type BlkCounter = (typeof BLK_COUNTERS)[number];

/** What the back end gets from its device (structured-cloneable: it may cross to an I/O thread). */
export interface BlkBackendArgs {
  fd: number;
  sectors: bigint;
  readOnly: boolean;
  /** GET_ID's answer (up to 20 bytes). */
  id: Uint8Array;
}

/** The module export the device's host calls. */
export function createBackend(context: BackendContext, args: BlkBackendArgs): VirtioBlkBackend {
  return new VirtioBlkBackend(context, args);
}

class RequestRefused extends VmmError {}
/** A request the device does not support as asked (UNSUPP rather than IOERR). */
class RequestUnsupported extends VmmError {}

export class VirtioBlkBackend extends QueueTurnBackend {
  #file: BlkBackendArgs;
  readonly #counters: DeviceCounters<BlkCounter> | undefined;

  constructor(context: BackendContext, file: BlkBackendArgs) {
    super(context);
    this.#file = file;
    this.#counters = context.counters as DeviceCounters<BlkCounter> | undefined;
  }

  /** A swapped backing file (VirtioBlkDevice.swapFile): requests from the next turn on go to it. */
  reconfigure(args: unknown): void {
    this.#file = args as BlkBackendArgs;
  }

  /** Up to BLK_CHAINS_PER_TURN requests or BLK_BYTES_PER_TURN bytes. */
  protected serveTurn(queue: SplitVirtqueue): { served: number; budgetSpent: boolean } {
    let served = 0;
    let bytes = 0;
    const turnLeft = (): boolean => served < BLK_CHAINS_PER_TURN && bytes < BLK_BYTES_PER_TURN;
    for (let chain = queue.pop(); chain !== undefined; chain = turnLeft() ? queue.pop() : undefined) {
      const request = parseBlkRequest(chain);
      if (request === undefined) throw new VirtqueueError('BUFFER_OUT_OF_RANGE', `block request ${chain.head} has no header or no status byte`);
      queue.pushUsed(chain.head, this.#serve(request));
      served++;
      bytes += request.readableBytes + request.writableBytes;
    }
    return { served, budgetSpent: !turnLeft() };
  }

  /** Does one request; returns the bytes written into the chain (data + status). */
  #serve(request: BlkRequest): number {
    const started = process.hrtime.bigint();
    let status: number = BlkStatus.OK;
    let dataWritten = 0;
    try {
      switch (request.type) {
        case BlkRequestType.IN:
          this.#checkRange(request.sector, request.writableBytes);
          if (transfer(fs.readvSync, this.#file.fd, request.writable, request.sector) !== request.writableBytes) status = BlkStatus.IOERR;
          else dataWritten = request.writableBytes;
          this.#count('reads', 'readBytes', dataWritten);
          break;
        case BlkRequestType.OUT:
          this.#writable();
          this.#checkRange(request.sector, request.readableBytes);
          if (transfer(fs.writevSync, this.#file.fd, request.readable, request.sector) !== request.readableBytes) status = BlkStatus.IOERR;
          this.#count('writes', 'writeBytes', status === BlkStatus.OK ? request.readableBytes : 0);
          break;
        case BlkRequestType.FLUSH:
          if (!this.#file.readOnly) fs.fsyncSync(this.#file.fd);
          this.#counters?.add('flushes');
          break;
        case BlkRequestType.GET_ID:
          dataWritten = this.#writeId(request);
          break;
        case BlkRequestType.DISCARD:
        case BlkRequestType.WRITE_ZEROES:
          this.#writable();
          this.#zeroSegments(request);
          break;
        default:
          status = BlkStatus.UNSUPP;
      }
    } catch (error) {
      // A refused request (out of range, read-only) or a host I/O error: the guest sees IOERR.
      if (!(error instanceof RequestRefused) && !(error instanceof RequestUnsupported) && !isHostIoError(error)) throw error;
      status = error instanceof RequestUnsupported ? BlkStatus.UNSUPP : BlkStatus.IOERR;
      dataWritten = 0;
    }
    request.status[0] = status;
    this.#counters?.add(status === BlkStatus.OK ? 'ok' : status === BlkStatus.IOERR ? 'ioerr' : 'unsupp');
    this.#counters?.add('serviceNs', Number(process.hrtime.bigint() - started));
    return dataWritten + 1;
  }

  #count(requests: BlkCounter, bytes: BlkCounter, amount: number): void {
    this.#counters?.add(requests);
    this.#counters?.add(bytes, amount);
  }

  #writable(): void {
    if (this.#file.readOnly) throw new RequestRefused('the disk is read-only');
  }

  /** [sector, sector + bytes/512) must lie inside the disk; data comes in whole sectors. */
  #checkRange(sector: bigint, bytes: number): void {
    if (bytes % SECTOR_SIZE !== 0) throw new RequestRefused('data is not a whole number of sectors');
    if (sector + BigInt(bytes / SECTOR_SIZE) > this.#file.sectors) throw new RequestRefused('beyond the end of the disk');
  }

  #writeId(request: BlkRequest): number {
    let offset = 0;
    for (const view of request.writable) {
      view.fill(0);
      view.set(this.#file.id.subarray(Math.min(offset, BLK_ID_BYTES), Math.min(offset + view.length, BLK_ID_BYTES)));
      offset += view.length;
    }
    return Math.min(request.writableBytes, BLK_ID_BYTES);
  }

  #zeroSegments(request: BlkRequest): void {
    if (request.readableBytes !== BLK_SEGMENT_SIZE * MAX_DISCARD_SEGMENTS) throw new RequestRefused(`${MAX_DISCARD_SEGMENTS} discard segment per request`);
    const segment = Buffer.concat(request.readable);
    const sector = segment.readBigUInt64LE(0);
    const count = segment.readUInt32LE(8);
    // virtio 1.2, 5.2.6.2: UNSUPP for unknown flags, and for unmap on a discard.
    const allowed = request.type === BlkRequestType.WRITE_ZEROES ? BLK_WRITE_ZEROES_UNMAP : 0;
    if ((segment.readUInt32LE(12) & ~allowed) !== 0) throw new RequestUnsupported('unknown discard or write-zeroes flags');
    if (count > MAX_DISCARD_SECTORS) throw new RequestRefused('segment longer than max_discard_sectors');
    this.#checkRange(sector, count * SECTOR_SIZE);
    let position = Number(sector) * SECTOR_SIZE;
    let left = count * SECTOR_SIZE;
    while (left > 0) {
      const chunk = Math.min(left, ZERO_CHUNK);
      const written = fs.writeSync(this.#file.fd, ZEROS, 0, chunk, position);
      if (written <= 0) throw new RequestRefused('short write');
      position += written;
      left -= written;
    }
  }
}

/** preadv/pwritev at a sector; a request without data moves nothing (the kernel refuses an empty vector). */
function transfer(io: (fd: number, buffers: Uint8Array[], position: number) => number, fd: number, buffers: Uint8Array[], sector: bigint): number {
  return buffers.length === 0 ? 0 : io(fd, buffers, Number(sector) * SECTOR_SIZE);
}

/** An errno error from a file operation (EIO, ENOSPC, ...): the guest's request fails, the device lives on. */
function isHostIoError(error: unknown): boolean {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' && typeof (error as NodeJS.ErrnoException).syscall === 'string';
}
