/* The ring-0 part: tables (GDT, TSS, IDT, user-accessible identity paging), the PIC and PIT, traps,
 * and the system calls the ring-3 programs use. Kept small: on nested-PVM hosts every ring-0
 * instruction is emulated. */
#include "kernel.h"
#include "layout.h"
#include "syscall.h"

#define BOOT_PARAMS_E820_ENTRIES 0x1e8
#define BOOT_PARAMS_CMDLINE_PTR 0x228
#define BOOT_PARAMS_E820_TABLE 0x2d0
#define E820_ENTRY_SIZE 20
#define E820_RAM 1
#define DEBUG_EXIT_PORT 0x501
#define I8042_COMMAND 0x64
#define I8042_PULSE_RESET 0xfe
#define PIC1 0x20
#define PIC2 0xa0
#define PIC_EOI 0x20
#define PIT_CHANNEL0 0x40
#define PIT_COMMAND 0x43
#define PIT_HZ 1193182
#define TWO_MIB 0x200000ul
#define USER_LIMIT 0x40000000ul
#define WRITE_MAX 4096
#define UD2 0x0b0f
#define PAGE_UNCACHED 0x18 /* PWT | PCD */
#define MMIO_PDPT_INDEX 3
#define MMIO_LOW 0xc0000000ul
#define MMIO_HIGH 0x100000000ul
#define PAGE_USER_WRITE 0x6
#define KERNEL_BASE 0x100000ul
/* struct hvm_start_info (Xen's arch-x86/hvm/start_info.h) and its memory map entries */
#define PVH_MAGIC 0x336ec578
#define PVH_VERSION 4
#define PVH_CMDLINE_PADDR 24
#define PVH_MEMMAP_PADDR 40
#define PVH_MEMMAP_ENTRIES 48
#define PVH_MEMMAP_ENTRY_SIZE 24
#define PVH_MEMMAP_TYPE 16
#define PVH_RAM 1

extern void reload_segments(void);
extern void enter_user(void (*entry)(void), u64 stack);
extern void user_main(void);
extern char isr_0[], isr_1[], isr_2[], isr_3[], isr_4[], isr_5[], isr_6[], isr_7[], isr_8[], isr_9[], isr_10[], isr_11[], isr_12[],
    isr_13[], isr_14[], isr_15[], isr_16[], isr_17[], isr_18[], isr_19[], isr_32[], isr_33[], isr_34[], isr_35[], isr_36[], isr_37[],
    isr_38[], isr_39[], isr_255[];

volatile u64 ticks;

static u8 kernel_stack[16384] NOINIT __attribute__((aligned(16)));
u8 *const kernel_stack_top_ptr = kernel_stack + sizeof kernel_stack;
static u8 user_stack[16384] NOINIT __attribute__((aligned(16)));
extern u64 boot_pml4[512], boot_pdpt[512]; /* entry.S: link-time identity map of the first GiB */
static u64 pd_high[512] __attribute__((aligned(4096))); /* 3-4 GiB: MMIO (virtio windows, local APIC) */
static u64 gdt[7];
static struct __attribute__((packed)) {
  u32 reserved0;
  u64 rsp[3];
  u64 reserved1;
  u64 ist[7];
  u64 reserved2;
  u16 reserved3;
  u16 iomap_base;
} tss;
static struct __attribute__((packed)) {
  u16 offset_low, selector;
  u8 ist, type;
  u16 offset_mid;
  u32 offset_high, reserved;
} idt[256];

static struct {
  u64 memory_bytes, ram_top;
  u32 cpus_listed, cpus_online;
  u32 selftest, expect_mem_mib, expect_cpus;
  u32 virtio_count;
  u64 virtio_base[VIRTIO_MAX];
  u32 net_ip, net_peer, vsock_port;
  u32 bench, count, depth;
} info;

static struct __attribute__((packed)) {
  u16 limit;
  u64 base;
} gdtr, idtr;

/* Maps the 2 MiB page holding `address` (between 3 and 4 GiB) with `flags`, uncached. */
void map_mmio_page(u64 address, u64 flags) {
  pd_high[(address >> 21) & 511] = (address & ~(TWO_MIB - 1)) | flags | PAGE_UNCACHED | PAGE_LARGE | 1;
  boot_pdpt[MMIO_PDPT_INDEX] = (u64)pd_high | PAGE_PRESENT_WRITE_USER;
  u64 cr3;
  __asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3) : : "memory");
}

void debug_exit(u32 status) {
  outl(DEBUG_EXIT_PORT, status);
  for (;;) __asm__ volatile("cli; hlt");
}

/* Waits `count` timer ticks with interrupts on (called from ring 0 with them off). */
void wait_ticks(u64 count) {
  u64 until = ticks + count;
  while (ticks < until) __asm__ volatile("sti; hlt; cli" ::: "memory");
}

static void set_gate(int vector, void *handler) {
  u64 address = (u64)handler;
  idt[vector].offset_low = (u16)address;
  idt[vector].selector = KERNEL_CS;
  idt[vector].ist = 0;
  idt[vector].type = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
  idt[vector].offset_mid = (u16)(address >> 16);
  idt[vector].offset_high = (u32)(address >> 32);
}

static void setup_tables(void) {
  gdt[1] = 0x00af9a000000ffff; /* kernel code, 64-bit */
  gdt[2] = 0x00cf92000000ffff; /* kernel data */
  gdt[3] = 0x00affa000000ffff; /* user code, 64-bit, DPL 3 */
  gdt[4] = 0x00cff2000000ffff; /* user data, DPL 3 */
  u64 base = (u64)&tss, limit = sizeof tss - 1;
  gdt[5] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ul << 40) | (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
  gdt[6] = base >> 32;
  tss.rsp[0] = (u64)kernel_stack_top_ptr;
  tss.iomap_base = sizeof tss;
  gdtr.limit = sizeof gdt - 1;
  gdtr.base = (u64)gdt;
  __asm__ volatile("lgdt %0" : : "m"(gdtr));
  reload_segments();
  __asm__ volatile("ltr %w0" : : "r"(TSS_SEL));

  void *exceptions[] = {isr_0, isr_1, isr_2, isr_3, isr_4, isr_5, isr_6, isr_7, isr_8, isr_9,
                        isr_10, isr_11, isr_12, isr_13, isr_14, isr_15, isr_16, isr_17, isr_18, isr_19};
  for (int v = 0; v < 20; v++) set_gate(v, exceptions[v]);
  void *irqs[] = {isr_32, isr_33, isr_34, isr_35, isr_36, isr_37, isr_38, isr_39};
  for (int v = 0; v < 8; v++) set_gate(TIMER_VECTOR + v, irqs[v]);
  set_gate(SPURIOUS_VECTOR, isr_255);
  idtr.limit = sizeof idt - 1;
  idtr.base = (u64)idt;
  __asm__ volatile("lidt %0" : : "m"(idtr));

  /* The PVH entry already runs on these; the 64-bit entry still runs on its loader's tables. */
  __asm__ volatile("mov %0, %%cr3" : : "r"((u64)boot_pml4) : "memory");
}

/* PIT channel 0 as the periodic tick. Stopping it loads a one-shot count (mode 0: one interrupt after
 * ~55 ms, then none): a control word alone does not stop KVM's PIT, which keeps its old period. */
static void timer_start(void) {
  u32 divisor = PIT_HZ / TICK_HZ;
  outb(PIT_COMMAND, 0x36); /* channel 0, lobyte/hibyte, square wave */
  outb(PIT_CHANNEL0, (u8)divisor);
  outb(PIT_CHANNEL0, (u8)(divisor >> 8));
}

static void timer_stop(void) {
  outb(PIT_COMMAND, 0x30); /* channel 0, lobyte/hibyte, interrupt on terminal count */
  outb(PIT_CHANNEL0, 0xff);
  outb(PIT_CHANNEL0, 0xff);
}

static void setup_timer_and_pic(void) {
  outb(PIC1, 0x11);
  outb(PIC2, 0x11);
  outb(PIC1 + 1, TIMER_VECTOR);
  outb(PIC2 + 1, TIMER_VECTOR + 8);
  outb(PIC1 + 1, 4);
  outb(PIC2 + 1, 2);
  outb(PIC1 + 1, 1);
  outb(PIC2 + 1, 1);
  outb(PIC1 + 1, (u8)~((1 << 0) | (1 << 1) | (1 << 2) | (1 << 4))); /* timer, keyboard, cascade, COM1 */
  outb(PIC2 + 1, 0xff);
  timer_start();
}

static int starts_with(const char *text, const char *prefix) {
  while (*prefix)
    if (*text++ != *prefix++) return 0;
  return 1;
}

static u32 parse_u32(const char *text) {
  u32 value = 0;
  while (*text >= '0' && *text <= '9') value = value * 10 + (u32)(*text++ - '0');
  return value;
}

static u64 parse_hex(const char *text) {
  u64 value = 0;
  if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) text += 2;
  for (;; text++) {
    int digit = *text >= '0' && *text <= '9' ? *text - '0' : *text >= 'a' && *text <= 'f' ? *text - 'a' + 10 : *text >= 'A' && *text <= 'F' ? *text - 'A' + 10 : -1;
    if (digit < 0) return value;
    value = value * 16 + (u64)digit;
  }
}

/* "a.b.c.d" as a.b.c.d in the top-down byte order of a 32-bit number, or 0. */
static u32 parse_ipv4(const char *text) {
  u32 address = 0;
  for (int part = 0; part < 4; part++) {
    if (*text < '0' || *text > '9') return 0;
    u32 value = parse_u32(text);
    while (*text >= '0' && *text <= '9') text++;
    if (value > 255 || (part < 3 && *text++ != '.')) return 0;
    address = address << 8 | value;
  }
  return address;
}

/* The BENCH_* number of the word at `name` (up to a space or the end), or 0. */
static u32 bench_named(const char *name) {
  static const char *const names[] = BENCH_NAMES;
  for (u32 i = 1; i < BENCH_COUNT; i++) {
    const char *p = name, *q = names[i];
    while (*q && *p == *q) p++, q++;
    if (!*q && (*p == ' ' || !*p)) return i;
  }
  return 0;
}

static void parse_cmdline(const char *cmdline) {
  if (!cmdline) return;
  for (const char *p = cmdline; *p; p++) {
    if (p != cmdline && p[-1] != ' ') continue;
    if (starts_with(p, "nodevmm.mode=selftest")) info.selftest = 1;
    if (starts_with(p, "nodevmm.mem=")) info.expect_mem_mib = parse_u32(p + 12);
    if (starts_with(p, "nodevmm.cpus=")) info.expect_cpus = parse_u32(p + 13);
    if (starts_with(p, "nodevmm.ip=")) info.net_ip = parse_ipv4(p + 11);
    if (starts_with(p, "nodevmm.peer=")) info.net_peer = parse_ipv4(p + 13);
    if (starts_with(p, "nodevmm.vsock=")) info.vsock_port = parse_u32(p + 14);
    if (starts_with(p, "nodevmm.count=")) info.count = parse_u32(p + 14);
    if (starts_with(p, "nodevmm.depth=")) info.depth = parse_u32(p + 14);
    if (starts_with(p, "nodevmm.bench=")) info.bench = bench_named(p + 14);
    if (starts_with(p, "virtio_mmio.device=") && info.virtio_count < VIRTIO_MAX) {
      const char *at = p + 19;
      while (*at && *at != '@' && *at != ' ') at++;
      if (*at == '@') {
        u64 base = parse_hex(at + 1);
        if (base >= MMIO_LOW && base < MMIO_HIGH) info.virtio_base[info.virtio_count++] = base;
      }
    }
  }
}

static void add_ram(u64 address, u64 size) {
  info.memory_bytes += size;
  if (address <= KERNEL_BASE && KERNEL_BASE < address + size) info.ram_top = address + size < USER_LIMIT ? address + size : USER_LIMIT;
}

static void read_boot_params(const u8 *boot_params) {
  u32 cmdline = *(const u32 *)(boot_params + BOOT_PARAMS_CMDLINE_PTR);
  parse_cmdline(cmdline ? (const char *)(u64)cmdline : 0);
  u8 entries = boot_params[BOOT_PARAMS_E820_ENTRIES];
  for (u8 i = 0; i < entries; i++) {
    const u8 *entry = boot_params + BOOT_PARAMS_E820_TABLE + i * E820_ENTRY_SIZE;
    if (*(const u32 *)(entry + 16) == E820_RAM) add_ram(*(const u64 *)entry, *(const u64 *)(entry + 8));
  }
}

/* PVH: the command line and (from version 1) the memory map come in hvm_start_info. */
static void read_pvh_start_info(const u8 *start) {
  if (*(const u32 *)start != PVH_MAGIC) return;
  u64 cmdline = *(const u64 *)(start + PVH_CMDLINE_PADDR);
  parse_cmdline(cmdline ? (const char *)cmdline : 0);
  if (*(const u32 *)(start + PVH_VERSION) < 1) return;
  const u8 *map = (const u8 *)*(const u64 *)(start + PVH_MEMMAP_PADDR);
  u32 entries = *(const u32 *)(start + PVH_MEMMAP_ENTRIES);
  for (u32 i = 0; i < entries; i++) {
    const u8 *entry = map + i * PVH_MEMMAP_ENTRY_SIZE;
    if (*(const u32 *)(entry + PVH_MEMMAP_TYPE) == PVH_RAM) add_ram(*(const u64 *)entry, *(const u64 *)(entry + 8));
  }
}

static int user_range_ok(u64 address, u64 length) {
  return length <= WRITE_MAX && address < USER_LIMIT && address + length <= USER_LIMIT;
}

static u64 info_value(u64 which) {
  switch (which) {
    case INFO_MEMORY_BYTES: return info.memory_bytes;
    case INFO_CPUS_ONLINE: return info.cpus_online;
    case INFO_CPUS_LISTED: return info.cpus_listed;
    case INFO_MODE_SELFTEST: return info.selftest;
    case INFO_EXPECT_MEM_MIB: return info.expect_mem_mib;
    case INFO_EXPECT_CPUS: return info.expect_cpus;
    case INFO_TICK_HZ: return TICK_HZ;
    case INFO_TIMER_IRQS: return ticks;
    case INFO_CLOCK: return (u64)clock_available();
    case INFO_VIRTIO_COUNT: return info.virtio_count;
    case INFO_NET_IP: return info.net_ip;
    case INFO_NET_PEER: return info.net_peer;
    case INFO_VSOCK_PORT: return info.vsock_port;
    case INFO_BENCH: return info.bench;
    case INFO_COUNT: return info.count;
    case INFO_DEPTH: return info.depth;
    case INFO_RAM_TOP: return info.ram_top;
    default:
      if (which >= INFO_VIRTIO_BASE && which < INFO_VIRTIO_BASE + info.virtio_count) return info.virtio_base[which - INFO_VIRTIO_BASE];
      return (u64)-1;
  }
}

/* The i8042's reset line: the VM ends with reason 'reset'. */
__attribute__((noreturn)) static void reboot(void) {
  outb(I8042_COMMAND, I8042_PULSE_RESET);
  for (;;) __asm__ volatile("cli; hlt");
}

static u64 system_call(struct frame *f) {
  switch (f->rax) {
    case SYS_WRITE:
      if (!user_range_ok(f->rdi, f->rsi)) return (u64)-1;
      serial_write((const char *)f->rdi, f->rsi);
      return f->rsi;
    case SYS_READ: {
      int byte = serial_take_char();
      if (byte >= 0) return (u64)byte;
      int tickless = clock_available();
      if (tickless) timer_stop();
      while ((byte = serial_take_char()) < 0) __asm__ volatile("sti; hlt; cli" ::: "memory");
      if (tickless) timer_start();
      return (u64)byte;
    }
    case SYS_TICKS: return uptime_ticks();
    case SYS_INFO: return info_value(f->rdi);
    case SYS_EXIT: debug_exit((u32)f->rdi); return 0;
    case SYS_REBOOT: reboot();
    case SYS_PIO_LOOP: {
      u64 left = f->rsi;
      if (left > 0) __asm__ volatile("1: outb %%al, %%dx; dec %%rcx; jnz 1b" : "+c"(left) : "d"((u16)f->rdi), "a"(0) : "memory");
      return f->rsi;
    }
    case SYS_PROBE:
      if (f->rdi == PROBE_SERIAL_SCRATCH) return (u64)serial_scratch_ok();
      if (f->rdi == PROBE_I8042_STATUS) return inb(I8042_COMMAND);
      return (u64)-1;
    default: return (u64)-1;
  }
}

static void fatal(struct frame *f) {
  serial_puts("\nnode-vmm-guest: exception ");
  serial_put_dec(f->vector);
  serial_puts(" error ");
  serial_put_hex(f->error);
  serial_puts(" at rip ");
  serial_put_hex(f->rip);
  serial_puts("\n");
  debug_exit(0xff);
}

void trap(struct frame *f) {
  if (f->vector == 6 && (f->cs & 3) == 3 && f->rip < USER_LIMIT && *(const u16 *)f->rip == UD2) {
    f->rax = system_call(f);
    f->rip += 2;
    return;
  }
  if (f->vector == TIMER_VECTOR) {
    ticks++;
    outb(PIC1, PIC_EOI);
    return;
  }
  if (f->vector == SERIAL_VECTOR) {
    serial_on_interrupt();
    outb(PIC1, PIC_EOI);
    return;
  }
  if (f->vector == KEYBOARD_VECTOR) {
    int pressed = keyboard_on_interrupt();
    outb(PIC1, PIC_EOI);
    if (pressed) {
      serial_puts("node-vmm-guest: ctrl-alt-del, rebooting\n");
      reboot();
    }
    return;
  }
  if (f->vector == TIMER_VECTOR + 7 || f->vector == SPURIOUS_VECTOR || (f->vector > TIMER_VECTOR && f->vector < TIMER_VECTOR + 8)) {
    if (f->vector != TIMER_VECTOR + 7 && f->vector != SPURIOUS_VECTOR) outb(PIC1, PIC_EOI);
    return; /* spurious or unexpected IRQ */
  }
  fatal(f);
}

void kmain(const u8 *boot_info, u32 boot_kind) {
  serial_init();
  serial_puts("node-vmm-guest: ready\n");
  if (boot_kind == BOOT_PVH) read_pvh_start_info(boot_info);
  else read_boot_params(boot_info);
  setup_tables();
  setup_timer_and_pic();
  clock_init();
  lapic_virtual_wire();
  /* virtio windows are mapped for ring 3: the drivers are user programs doing MMIO (no port I/O there). */
  for (u32 i = 0; i < info.virtio_count; i++) map_mmio_page(info.virtio_base[i], PAGE_USER_WRITE);
  if (info.bench == BENCH_MARKER) map_mmio_page(BENCH_MARKER_ADDRESS, PAGE_USER_WRITE);
  info.cpus_listed = mp_table_cpus();
  info.cpus_online = 1 + (info.cpus_listed > 1 ? start_application_processors(info.cpus_listed) : 0);
  enter_user(user_main, (u64)(user_stack + sizeof user_stack));
}
