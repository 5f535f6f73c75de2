/* The exit-cost baseline: the same guest (test/guests/out-loop.S) and the same KVM work as node-vmm,
 * driven by a plain C loop. Usage: c-loop GUEST.bin ITERATIONS. Prints "ns_per_exit N exits E".
 * Built by bench/exit-cost at run time with the system gcc. */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define GUEST_MEMORY_SIZE 0x10000
#define LOAD_ADDRESS 0x1000
#define COUNTER_PORT 0x10

static void die(const char *what) {
  perror(what);
  exit(2);
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s GUEST.bin ITERATIONS\n", argv[0]);
    return 2;
  }
  unsigned long iterations = strtoul(argv[2], NULL, 10);
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("open /dev/kvm");
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) die("KVM_CREATE_VM");
  if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0) die("KVM_SET_TSS_ADDR");
  uint8_t *memory = mmap(NULL, GUEST_MEMORY_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED) die("mmap");
  FILE *guest = fopen(argv[1], "rb");
  if (!guest) die("fopen guest");
  fread(memory + LOAD_ADDRESS, 1, GUEST_MEMORY_SIZE - LOAD_ADDRESS, guest);
  fclose(guest);
  struct kvm_userspace_memory_region region = {.slot = 0, .guest_phys_addr = 0, .memory_size = GUEST_MEMORY_SIZE, .userspace_addr = (uintptr_t)memory};
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) die("KVM_CREATE_VCPU");
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) die("mmap kvm_run");
  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
  struct kvm_regs regs;
  memset(&regs, 0, sizeof(regs));
  regs.rip = LOAD_ADDRESS;
  regs.rflags = 2;
  regs.rcx = iterations;
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");

  volatile unsigned long counter = 0;
  double start = now_ns();
  for (;;) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) die("KVM_RUN");
    if (run->exit_reason == KVM_EXIT_IO) {
      if (run->io.direction == KVM_EXIT_IO_OUT && run->io.port == COUNTER_PORT) counter++;
      continue;
    }
    if (run->exit_reason == KVM_EXIT_HLT) break;
    fprintf(stderr, "unexpected exit %u\n", run->exit_reason);
    return 1;
  }
  double elapsed = now_ns() - start;
  printf("ns_per_exit %.1f exits %lu elapsed_ns %.0f\n", elapsed / (double)(counter + 1), counter, elapsed);
  return counter == iterations ? 0 : 1;
}
