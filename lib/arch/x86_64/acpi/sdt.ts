// The header every ACPI system description table starts with (ACPI 6.5, 5.2.6), and the checksum
// rule shared by all tables: the bytes of the whole table sum to zero.

export const SDT_HEADER_SIZE = 36;
export const OEM_ID = 'NODEVM';
const CREATOR_ID = 'NVMM';
const CREATOR_REVISION = 1;
const CHECKSUM_OFFSET = 9;

export function checksum(bytes: Uint8Array): number {
  return (0x100 - (bytes.reduce((sum, b) => sum + b, 0) & 0xff)) & 0xff;
}

export function writeAscii(table: Uint8Array, at: number, text: string, width: number): void {
  table.set(Buffer.from(text.padEnd(width, ' ').slice(0, width), 'latin1'), at);
}

/** A table of `length` bytes whose header is filled in; the caller writes the body, then seals it. */
export function newTable(signature: string, revision: number, length: number): { table: Uint8Array; view: DataView } {
  const table = new Uint8Array(length);
  const view = new DataView(table.buffer);
  writeAscii(table, 0, signature, 4);
  view.setUint32(4, length, true);
  table[8] = revision;
  writeAscii(table, 10, OEM_ID, 6);
  writeAscii(table, 16, `NVMM${signature}`, 8);
  view.setUint32(24, 1, true); // OEM revision
  writeAscii(table, 28, CREATOR_ID, 4);
  view.setUint32(32, CREATOR_REVISION, true);
  return { table, view };
}

/** Sets the checksum byte so the table sums to zero; call after the body is complete. */
export function seal(table: Uint8Array): Uint8Array {
  table[CHECKSUM_OFFSET] = 0;
  table[CHECKSUM_OFFSET] = checksum(table);
  return table;
}
