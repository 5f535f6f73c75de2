/* Time without a ticking timer: KVM's paravirtual clock (kvmclock). An idle guest that keeps a
 * 100 Hz timer running pays for every tick, and where guest kernel mode is emulated (nested PVM) each
 * tick costs tens of microseconds: ~3% of a core per idle VM, the whole machine for 100 idle clones.
 * With the clock, uptime is read, not counted, so the shell stops the PIT while it waits for input.
 * The clock's page is guest memory that KVM fills (the pvclock_vcpu_time_info layout); its MSR is
 * saved and restored with the vCPU, and KVM_SET_CLOCK carries the time over a snapshot. */
#include "kernel.h"
#include "tsc.h"

#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01u
#define NS_PER_TICK (1000000000ul / TICK_HZ)

static volatile struct __attribute__((packed, aligned(64))) {
  u32 version; /* odd while KVM updates the record */
  u32 pad0;
  u64 tsc_timestamp;
  u64 system_time; /* ns at tsc_timestamp */
  u32 tsc_to_system_mul;
  signed char tsc_shift;
  u8 flags;
  u8 pad[2];
} pvclock;

static int clock_ready;
static u64 boot_ns;

static u64 clock_ns(void) {
  u32 version;
  u64 ns;
  do {
    version = pvclock.version;
    __asm__ volatile("" ::: "memory");
    u64 delta = rdtsc() - pvclock.tsc_timestamp;
    signed char shift = pvclock.tsc_shift;
    delta = shift < 0 ? delta >> -shift : delta << shift;
    ns = pvclock.system_time + (u64)(((unsigned __int128)delta * pvclock.tsc_to_system_mul) >> 32);
    __asm__ volatile("" ::: "memory");
  } while ((version & 1) || version != pvclock.version);
  return ns;
}

void clock_init(void) {
  u64 value = (u64)&pvclock | 1;
  __asm__ volatile("wrmsr" : : "c"(MSR_KVM_SYSTEM_TIME_NEW), "a"((u32)value), "d"((u32)(value >> 32)));
  clock_ready = pvclock.version != 0 && pvclock.tsc_to_system_mul != 0;
  if (clock_ready) boot_ns = clock_ns();
}

int clock_available(void) { return clock_ready; }

u64 uptime_ticks(void) { return clock_ready ? (clock_ns() - boot_ns) / NS_PER_TICK : ticks; }
