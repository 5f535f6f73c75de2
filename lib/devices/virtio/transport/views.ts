// Byte ranges across descriptor buffers, which a driver may split anywhere.

/** Views of `length` bytes starting `offset` bytes into a list of buffers. */
export function take(buffers: readonly Uint8Array[], offset: number, length: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let skip = offset;
  let left = length;
  for (const buffer of buffers) {
    if (left === 0) break;
    if (skip >= buffer.length) {
      skip -= buffer.length;
      continue;
    }
    const part = buffer.subarray(skip, Math.min(buffer.length, skip + left));
    skip = 0;
    left -= part.length;
    if (part.length > 0) out.push(part);
  }
  return out;
}
