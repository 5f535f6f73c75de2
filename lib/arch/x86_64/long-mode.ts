// Special registers for a direct entry into 64-bit long mode (paging on, flat segments), and for
// flat real mode. Both are patches applied to a vCPU's reset state.
import type { SregsPatch } from './vcpu-init';
import type { GuestMemory } from '../../memory/guest-memory';
import { GDT_CODE_64, GDT_DATA, GDT_TSS, gdtEntry, segmentFromEntry, SELECTOR_CODE, SELECTOR_DATA, SELECTOR_TSS } from './gdt';
import { BOOT_GDT_ADDRESS, BOOT_IDT_ADDRESS } from './layout';
import { writeIdentityPageTables } from './page-tables';

export const CR0_PE = 1n << 0n;
export const CR0_ET = 1n << 4n;
export const CR0_NE = 1n << 5n;
export const CR0_PG = 1n << 31n;
export const CR4_PAE = 1n << 5n;
export const EFER_LME = 1n << 8n;
export const EFER_LMA = 1n << 10n;

/**
 * Writes the GDT, an empty IDT and identity page tables (first GiB) and returns the sregs for them.
 * @throws {@link GuestMemoryError} when guest memory does not cover the page tables' and GDT's addresses.
 */
export function enterLongMode(memory: GuestMemory): SregsPatch {
  const gdt = [0n, gdtEntry(GDT_CODE_64, 0, 0xfffff), gdtEntry(GDT_DATA, 0, 0xfffff), gdtEntry(GDT_TSS, 0, 0xfffff)];
  gdt.forEach((entry, i) => memory.writeU64(BOOT_GDT_ADDRESS + i * 8, entry));
  memory.writeU64(BOOT_IDT_ADDRESS, 0n);
  const cr3 = writeIdentityPageTables(memory);
  const code = segmentFromEntry(gdt[1] as bigint, SELECTOR_CODE);
  const data = segmentFromEntry(gdt[2] as bigint, SELECTOR_DATA);
  const tss = segmentFromEntry(gdt[3] as bigint, SELECTOR_TSS);
  return {
    cs: code,
    ds: data,
    es: data,
    fs: data,
    gs: data,
    ss: data,
    tr: tss,
    gdt: { base: BigInt(BOOT_GDT_ADDRESS), limit: gdt.length * 8 - 1 },
    idt: { base: BigInt(BOOT_IDT_ADDRESS), limit: 7 },
    cr0: CR0_PE | CR0_PG | CR0_ET | CR0_NE,
    cr3,
    cr4: CR4_PAE,
    efer: EFER_LME | EFER_LMA,
  };
}

/**
 * Real mode with CS based at 0, so IP is a flat address below 64 KiB.
 * @throws Nothing.
 */
export function flatRealMode(): SregsPatch {
  return { cs: { base: 0n, selector: 0 } };
}
