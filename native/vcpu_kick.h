// Kicking a vCPU out of KVM_RUN from another thread: set kvm_run.immediate_exit (covers the window
// before the thread enters KVM_RUN) and send its thread a signal whose handler does nothing (interrupts
// a KVM_RUN in progress, which then returns EINTR). Entries are removed before the kvm_run page is
// unmapped, so a kick never touches freed memory.
#pragma once

#include <linux/kvm.h>
#include <pthread.h>

#include <cstdint>

namespace vmm {

// Installs the no-op handler once per process and unblocks the signal on the calling thread.
void PrepareKickSignal();
uint32_t RegisterKickTarget(pthread_t thread, kvm_run* run);
void UnregisterKickTarget(uint32_t token);
// False when the target is gone (its vCPU was closed).
bool Kick(uint32_t token);
int KickSignalNumber();

}  // namespace vmm
