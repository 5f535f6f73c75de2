// VcpuHandle: the owner of a vCPU file descriptor and its kvm_run mapping. It lives on the thread that
// created it (KVM wants vCPU ioctls there); run() refuses other threads. Other threads stop it with
// kickVcpu(kickToken).
#pragma once

#include <linux/kvm.h>
#include <napi.h>

#include "addon_data.h"
#include <pthread.h>

#include <cstdint>
#include <memory>

#include "mapped_region.h"
#include "unique_fd.h"

namespace vmm {

class VcpuHandle : public Napi::ObjectWrap<VcpuHandle> {
 public:
  static constexpr const char* kClassName = "VcpuHandle";
  static constexpr const napi_type_tag& kTag = kVcpuHandleTag;
  static Napi::Function Define(Napi::Env env);
  // createVcpu(kvmFd: number, vmFd: number, vcpuId: number): VcpuHandle
  static Napi::Value Create(const Napi::CallbackInfo& info);
  // kickVcpu(token: number): boolean
  static Napi::Value KickByToken(const Napi::CallbackInfo& info);

  explicit VcpuHandle(const Napi::CallbackInfo& info);
  ~VcpuHandle() override;

 private:
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetId(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  Napi::Value GetKickToken(const Napi::CallbackInfo& info);
  Napi::Value GetRunBuffer(const Napi::CallbackInfo& info);
  // run(): the kvm_run exit_reason, or KVM_EXIT_INTR (10) when interrupted by a kick or signal
  Napi::Value Run(const Napi::CallbackInfo& info);
  // setRunClock(counters: Float64Array, index: number): from now on run() adds the nanoseconds it spends in
  // KVM_RUN to counters[index] and keeps counters[index + 1] at CLOCK_MONOTONIC's time of entry (0 outside)
  Napi::Value SetRunClock(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  UniqueFd fd_;
  uint32_t id_ = 0;
  uint32_t kick_token_ = 0;
  pthread_t thread_;
  kvm_run* run_ = nullptr;
  std::shared_ptr<MappedRegion> run_region_;
  Napi::Reference<Napi::ArrayBuffer> run_buffer_;
  // Two float64 slots of the array setRunClock() pinned (run_clock_ref_ keeps it alive): total, entry time.
  double* run_clock_ = nullptr;
  Napi::Reference<Napi::Float64Array> run_clock_ref_;
};

}  // namespace vmm
