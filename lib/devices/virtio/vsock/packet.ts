// virtio-vsock packets (virtio 1.2, 5.10.6): a 44-byte little-endian header, then the payload.
export const VSOCK_HEADER_SIZE = 44;
export const VSOCK_HOST_CID = 2n;
export const VSOCK_TYPE_STREAM = 1;

export const VsockOp = { REQUEST: 1, RESPONSE: 2, RST: 3, SHUTDOWN: 4, RW: 5, CREDIT_UPDATE: 6, CREDIT_REQUEST: 7 } as const;
export const ShutdownFlag = { RECEIVE: 1, SEND: 2 } as const;

export interface VsockHeader {
  srcCid: bigint;
  dstCid: bigint;
  srcPort: number;
  dstPort: number;
  len: number;
  type: number;
  op: number;
  flags: number;
  bufAlloc: number;
  fwdCnt: number;
}

export function encodeVsockHeader(h: VsockHeader): Buffer {
  const b = Buffer.alloc(VSOCK_HEADER_SIZE);
  b.writeBigUInt64LE(h.srcCid, 0);
  b.writeBigUInt64LE(h.dstCid, 8);
  b.writeUInt32LE(h.srcPort >>> 0, 16);
  b.writeUInt32LE(h.dstPort >>> 0, 20);
  b.writeUInt32LE(h.len >>> 0, 24);
  b.writeUInt16LE(h.type, 28);
  b.writeUInt16LE(h.op, 30);
  b.writeUInt32LE(h.flags >>> 0, 32);
  b.writeUInt32LE(h.bufAlloc >>> 0, 36);
  b.writeUInt32LE(h.fwdCnt >>> 0, 40);
  return b;
}

export function decodeVsockHeader(b: Buffer): VsockHeader {
  return {
    srcCid: b.readBigUInt64LE(0),
    dstCid: b.readBigUInt64LE(8),
    srcPort: b.readUInt32LE(16),
    dstPort: b.readUInt32LE(20),
    len: b.readUInt32LE(24),
    type: b.readUInt16LE(28),
    op: b.readUInt16LE(30),
    flags: b.readUInt32LE(32),
    bufAlloc: b.readUInt32LE(36),
    fwdCnt: b.readUInt32LE(40),
  };
}
