// Identity-mapped page tables for the first GiB (2 MiB pages): what a direct 64-bit entry needs.
import type { GuestMemory } from '../../memory/guest-memory';
import { PD_ADDRESS, PDPT_ADDRESS, PML4_ADDRESS } from './layout';

const PAGE_PRESENT = 0x1n;
const PAGE_WRITABLE = 0x2n;
const PAGE_SIZE_2M = 0x80n;
const TWO_MIB = 0x200000n;
const ENTRIES_PER_TABLE = 512;

/** Writes PML4 -> PDPT -> PD at their boot addresses; returns the CR3 value. */
export function writeIdentityPageTables(memory: GuestMemory): bigint {
  memory.writeU64(PML4_ADDRESS, BigInt(PDPT_ADDRESS) | PAGE_PRESENT | PAGE_WRITABLE);
  memory.writeU64(PDPT_ADDRESS, BigInt(PD_ADDRESS) | PAGE_PRESENT | PAGE_WRITABLE);
  for (let i = 0; i < ENTRIES_PER_TABLE; i++) {
    memory.writeU64(PD_ADDRESS + i * 8, (BigInt(i) * TWO_MIB) | PAGE_PRESENT | PAGE_WRITABLE | PAGE_SIZE_2M);
  }
  return BigInt(PML4_ADDRESS);
}
