// Little-endian field access over a struct buffer, so struct codecs read like their C layouts.
export class StructView {
  readonly bytes: Uint8Array;
  readonly view: DataView;

  constructor(bytesOrSize: Uint8Array | number) {
    this.bytes = typeof bytesOrSize === 'number' ? new Uint8Array(bytesOrSize) : bytesOrSize;
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  u8(offset: number): number {
    return this.view.getUint8(offset);
  }
  u16(offset: number): number {
    return this.view.getUint16(offset, true);
  }
  u32(offset: number): number {
    return this.view.getUint32(offset, true);
  }
  u64(offset: number): bigint {
    return this.view.getBigUint64(offset, true);
  }
  setU8(offset: number, value: number): void {
    this.view.setUint8(offset, value);
  }
  setU16(offset: number, value: number): void {
    this.view.setUint16(offset, value, true);
  }
  setU32(offset: number, value: number): void {
    this.view.setUint32(offset, value >>> 0, true);
  }
  setU64(offset: number, value: bigint | number): void {
    this.view.setBigUint64(offset, BigInt.asUintN(64, BigInt(value)), true);
  }
}
