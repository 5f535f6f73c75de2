// x86-64 guest-physical RAM layout: RAM from 0 up to the 32-bit MMIO gap (the last GiB below 4 GiB),
// the rest from 4 GiB up. Each region is at most 4 GiB, the most one JS ArrayBuffer view covers here.
import { ConfigError } from '../kvm/errors';

export const PAGE_SIZE = 4096;
export const GiB = 1024 * 1024 * 1024;
export const MiB = 1024 * 1024;
export const MMIO_GAP_START = 3 * GiB;
export const MMIO_GAP_END = 4 * GiB;
export const MMIO_GAP_SIZE = MMIO_GAP_END - MMIO_GAP_START;
export const MAX_REGION_SIZE = 4 * GiB;
/** The smallest guest this VMM builds: room for boot structures below 1 MiB and a kernel above it. */
export const MIN_MEMORY_SIZE = PAGE_SIZE;
export const MAX_MEMORY_SIZE = 1024 * GiB;

export interface RamRegion {
  guestAddress: number;
  size: number;
}

export function ramLayout(memorySize: number): RamRegion[] {
  if (!Number.isSafeInteger(memorySize) || memorySize < MIN_MEMORY_SIZE || memorySize > MAX_MEMORY_SIZE) {
    throw new ConfigError(`memory size ${memorySize} must be an integer between ${MIN_MEMORY_SIZE} bytes and ${MAX_MEMORY_SIZE / GiB} GiB`);
  }
  if (memorySize % PAGE_SIZE !== 0) throw new ConfigError(`memory size ${memorySize} must be a multiple of ${PAGE_SIZE} bytes`);
  const regions: RamRegion[] = [];
  const low = Math.min(memorySize, MMIO_GAP_START);
  regions.push({ guestAddress: 0, size: low });
  let remaining = memorySize - low;
  let next = MMIO_GAP_END;
  while (remaining > 0) {
    const size = Math.min(remaining, MAX_REGION_SIZE);
    regions.push({ guestAddress: next, size });
    next += size;
    remaining -= size;
  }
  return regions;
}
