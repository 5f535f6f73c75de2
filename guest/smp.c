/* The local APIC: virtual-wire mode for the boot CPU (PIC interrupts through LINT0), and SMP: count
 * the processors in the MP table the VMM wrote and start the others with INIT-SIPI-SIPI. Each AP only
 * marks itself online and parks; the programs run on CPU 0. */
#include "kernel.h"

/* Only the last KiB of base memory, where node-vmm writes the table (one of the places the MP spec
 * names): scanning the BIOS area too cost ~25,000 emulated loop iterations (~220 ms) on nested-PVM
 * hosts, every boot. */
#define MP_FLOATING_START 0x9fc00
#define MP_FLOATING_END 0xa0000
#define MP_ENTRY_PROCESSOR 0
#define MP_PROCESSOR_SIZE 20
#define MP_OTHER_SIZE 8
#define MP_CPU_ENABLED 1
#define TRAMPOLINE_BASE 0x10000
#define SIPI_VECTOR (TRAMPOLINE_BASE >> 12)
#define LAPIC_BASE 0xfee00000ul
#define LAPIC_SVR 0x0f0
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define SVR_ENABLE_SPURIOUS_255 0x1ff
#define LVT_EXTINT 0x700
#define LVT_NMI 0x400
#define LAPIC_ICR_LOW 0x300
#define LAPIC_ICR_HIGH 0x310
#define ICR_INIT_ALL_BUT_SELF 0x000c4500
#define ICR_STARTUP_ALL_BUT_SELF 0x000c4600
#define AP_STACK_BYTES 4096
#define MAX_CPUS 64
#define START_TIMEOUT_TICKS 100

extern char trampoline_start[], trampoline_end[], trampoline_cr3[], trampoline_entry[], trampoline_stacks[];

static volatile u32 aps_online;
static u8 ap_stacks[(MAX_CPUS + 1) * AP_STACK_BYTES] NOINIT __attribute__((aligned(4096)));

static int signature(const u8 *at, const char *text) {
  for (int i = 0; i < 4; i++)
    if (at[i] != (u8)text[i]) return 0;
  return 1;
}

u32 mp_table_cpus(void) {
  for (u64 at = MP_FLOATING_START; at + 16 <= MP_FLOATING_END; at += 16) {
    const u8 *floating = (const u8 *)at;
    if (!signature(floating, "_MP_")) continue;
    const u8 *table = (const u8 *)(u64)*(const u32 *)(floating + 4);
    if (!table || !signature(table, "PCMP")) return 1;
    u16 count = *(const u16 *)(table + 0x22);
    const u8 *entry = table + 0x2c;
    u32 cpus = 0;
    for (u16 i = 0; i < count; i++) {
      if (entry[0] == MP_ENTRY_PROCESSOR) {
        if (entry[3] & MP_CPU_ENABLED) cpus++;
        entry += MP_PROCESSOR_SIZE;
      } else {
        entry += MP_OTHER_SIZE;
      }
    }
    return cpus ? (cpus > MAX_CPUS ? MAX_CPUS : cpus) : 1;
  }
  return 1;
}

static void ap_main(void) {
  __atomic_add_fetch(&aps_online, 1, __ATOMIC_SEQ_CST);
}

static void lapic_write(u32 reg, u32 value) {
  *(volatile u32 *)(LAPIC_BASE + reg) = value;
}

/* PIC interrupts reach this CPU only while LINT0 is an unmasked ExtINT, which a firmware may have
 * undone (QEMU's microvm BIOS masks it); the APIC must be software-enabled for LVT writes to hold. */
void lapic_virtual_wire(void) {
  map_mmio_page(LAPIC_BASE, 0x2); /* ring 0 only */
  lapic_write(LAPIC_SVR, SVR_ENABLE_SPURIOUS_255);
  lapic_write(LAPIC_LVT_LINT0, LVT_EXTINT);
  lapic_write(LAPIC_LVT_LINT1, LVT_NMI);
}

/* Returns how many APs came up (after lapic_virtual_wire()). */
u32 start_application_processors(u32 expected) {
  u64 cr3;
  __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
  u8 *base = (u8 *)TRAMPOLINE_BASE;
  for (char *p = trampoline_start; p < trampoline_end; p++) base[p - trampoline_start] = (u8)*p;
  *(u64 *)(base + (trampoline_cr3 - trampoline_start)) = cr3;
  *(u64 *)(base + (trampoline_entry - trampoline_start)) = (u64)ap_main;
  *(u64 *)(base + (trampoline_stacks - trampoline_start)) = (u64)ap_stacks;
  lapic_write(LAPIC_ICR_HIGH, 0);
  lapic_write(LAPIC_ICR_LOW, ICR_INIT_ALL_BUT_SELF);
  wait_ticks(1);
  lapic_write(LAPIC_ICR_LOW, ICR_STARTUP_ALL_BUT_SELF | SIPI_VECTOR);
  wait_ticks(1);
  lapic_write(LAPIC_ICR_LOW, ICR_STARTUP_ALL_BUT_SELF | SIPI_VECTOR);
  for (u64 waited = 0; aps_online < expected - 1 && waited < START_TIMEOUT_TICKS; waited++) wait_ticks(1);
  return aps_online;
}
