#include "vcpu_kick.h"

#include <signal.h>

#include <map>
#include <mutex>

namespace vmm {

namespace {

struct KickTarget {
  pthread_t thread;
  kvm_run* run;
};

std::mutex targets_mutex;
uint32_t next_token = 1;
std::once_flag handler_once;

std::map<uint32_t, KickTarget>& Targets() {
  static auto* targets = new std::map<uint32_t, KickTarget>();  // lives until process exit
  return *targets;
}

void IgnoreKick(int) {}

}  // namespace

int KickSignalNumber() { return SIGRTMIN + 6; }

void PrepareKickSignal() {
  std::call_once(handler_once, [] {
    struct sigaction action = {};
    action.sa_handler = IgnoreKick;
    sigemptyset(&action.sa_mask);
    // SA_RESTART keeps other syscalls of the thread transparent; KVM_RUN still returns EINTR.
    action.sa_flags = SA_RESTART;
    sigaction(KickSignalNumber(), &action, nullptr);
  });
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, KickSignalNumber());
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

uint32_t RegisterKickTarget(pthread_t thread, kvm_run* run) {
  std::lock_guard<std::mutex> lock(targets_mutex);
  uint32_t token = next_token++;
  Targets()[token] = KickTarget{thread, run};
  return token;
}

void UnregisterKickTarget(uint32_t token) {
  std::lock_guard<std::mutex> lock(targets_mutex);
  Targets().erase(token);
}

bool Kick(uint32_t token) {
  std::lock_guard<std::mutex> lock(targets_mutex);
  auto it = Targets().find(token);
  if (it == Targets().end()) return false;
  __atomic_store_n(&it->second.run->immediate_exit, 1, __ATOMIC_SEQ_CST);
  pthread_kill(it->second.thread, KickSignalNumber());
  return true;
}

}  // namespace vmm
