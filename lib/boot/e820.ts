// The E820 memory map handed to Linux in boot_params, built from the guest's RAM regions, and formatted
// the way the kernel prints it at boot ("BIOS-e820: [mem 0x...-0x...] usable").
import { BASE_MEMORY_END, HIGH_MEMORY_START } from '../arch/x86_64/layout';
import type { RamRegion } from '../memory/layout';
import { BootError, hex } from './errors';

export const E820_RAM = 1;
export const E820_RESERVED = 2;


export interface E820Entry {
  readonly address: number;
  readonly size: number;
  readonly type: number;
}

/** Names Linux prints for the types this map uses; others print as "type N", as the kernel does. */
const TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [E820_RAM, 'usable'],
  [E820_RESERVED, 'reserved'],
]);

/**
 * RAM below the EBDA, the legacy area reserved, RAM from 1 MiB to the end of the region at 0, then every
 * other region as RAM. Contiguous regions (RAM above 4 GiB comes in 4 GiB pieces) become one entry, as
 * Linux's own sanitizing would merge them anyway.
 */
export function buildE820(regions: readonly RamRegion[]): E820Entry[] {
  const low = regions.find((r) => r.guestAddress === 0);
  if (low === undefined || low.size <= HIGH_MEMORY_START) {
    const size = low === undefined ? 'no RAM at address 0' : `RAM at 0 of only ${hex(low.size)} bytes`;
    throw new BootError('NO_MEMORY', `Linux needs guest RAM from 0 to beyond 1 MiB, but the guest has ${size}`);
  }
  const entries: E820Entry[] = [
    { address: 0, size: BASE_MEMORY_END, type: E820_RAM },
    { address: BASE_MEMORY_END, size: HIGH_MEMORY_START - BASE_MEMORY_END, type: E820_RESERVED },
    { address: HIGH_MEMORY_START, size: low.size - HIGH_MEMORY_START, type: E820_RAM },
  ];
  const rest = regions.filter((r) => r !== low).sort((a, b) => a.guestAddress - b.guestAddress);
  for (const region of rest) {
    const previous = entries[entries.length - 1];
    if (previous.type === E820_RAM && previous.address + previous.size === region.guestAddress) {
      entries[entries.length - 1] = { ...previous, size: previous.size + region.size };
    } else {
      entries.push({ address: region.guestAddress, size: region.size, type: E820_RAM });
    }
  }
  return entries;
}

function formatAddress(value: bigint): string {
  return `0x${value.toString(16).padStart(16, '0')}`;
}

/** One line as Linux prints it: `BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable`. */
export function formatE820Entry(entry: E820Entry): string {
  const first = BigInt(entry.address);
  const last = first + BigInt(entry.size) - 1n;
  const name = TYPE_NAMES.get(entry.type) ?? `type ${entry.type}`;
  return `BIOS-e820: [mem ${formatAddress(first)}-${formatAddress(last)}] ${name}`;
}

export function formatE820(entries: readonly E820Entry[]): string[] {
  return entries.map(formatE820Entry);
}
