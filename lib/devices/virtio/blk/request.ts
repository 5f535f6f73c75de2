// Parsing a virtio-blk request chain (virtio 1.2, 5.2.6): a 16-byte header (type, reserved, sector)
// at the start of the device-readable part, then data (readable for writes, writable for reads), then
// one writable status byte at the very end. Buffers may split anywhere, so the header and the status
// are located by byte offset across buffers; data stays as views of guest memory.
import type { DescriptorChain } from '../transport/split-virtqueue';
import { take } from '../transport/views';

export const BlkRequestType = { IN: 0, OUT: 1, FLUSH: 4, GET_ID: 8, DISCARD: 11, WRITE_ZEROES: 13 } as const;
export const BlkStatus = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;
export const BLK_HEADER_SIZE = 16;
export const SECTOR_SIZE = 512;
/** discard / write-zeroes segment: sector u64, num_sectors u32, flags u32 */
export const BLK_SEGMENT_SIZE = 16;
/**
 * Sectors one discard or write-zeroes segment may cover (the config space's max_discard_sectors and
 * max_write_zeroes_sectors). Node has no hole punching, so both are zero writes: 64 Ki sectors (32 MiB)
 * bounds the time one request holds the back end's thread.
 */
export const MAX_DISCARD_SECTORS = 0x10000;
/** The one flag a write-zeroes segment may carry (discard segments carry none: 5.2.6.2). */
export const BLK_WRITE_ZEROES_UNMAP = 1;
/** Segments per discard or write-zeroes request (max_discard_seg, max_write_zeroes_seg). */
export const MAX_DISCARD_SEGMENTS = 1;

export interface BlkRequest {
  type: number;
  sector: bigint;
  /** Readable bytes after the header (write data, discard segments). */
  readable: Uint8Array[];
  readableBytes: number;
  /** Writable bytes before the status byte (read data, the id). */
  writable: Uint8Array[];
  writableBytes: number;
  /** The status byte, a view of guest memory. */
  status: Uint8Array;
}

/** Undefined when the chain has no status byte or too short a header: nothing can be reported back. */
export function parseBlkRequest(chain: DescriptorChain): BlkRequest | undefined {
  if (chain.readableBytes < BLK_HEADER_SIZE || chain.writableBytes < 1) return undefined;
  const header = Buffer.concat(take(chain.readable, 0, BLK_HEADER_SIZE));
  const writable = take(chain.writable, 0, chain.writableBytes - 1);
  const status = take(chain.writable, chain.writableBytes - 1, 1)[0] as Uint8Array;
  return {
    type: header.readUInt32LE(0),
    sector: header.readBigUInt64LE(8),
    readable: take(chain.readable, BLK_HEADER_SIZE, chain.readableBytes - BLK_HEADER_SIZE),
    readableBytes: chain.readableBytes - BLK_HEADER_SIZE,
    writable,
    writableBytes: chain.writableBytes - 1,
    status,
  };
}
