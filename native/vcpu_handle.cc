#include "vcpu_handle.h"

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <string>

#include "addon_data.h"
#include "args.h"
#include "errors.h"
#include "vcpu_kick.h"

namespace vmm {

namespace {

constexpr uint32_t kMaxVcpuId = 1023;

// glibc 2.17 moved clock_gettime from librt into libc under a new symbol version; libc still exports
// the original one, and binding that keeps the prebuild's glibc floor at 2.14 (README, Building).
__asm__(".symver clock_gettime,clock_gettime@GLIBC_2.2.5");

// CLOCK_MONOTONIC in nanoseconds, the clock process.hrtime() reads (a vDSO call, no system call).
double MonotonicNs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec) * 1e9 + static_cast<double>(now.tv_nsec);
}

// What Create() hands to the constructor (through the adoption slot, addon_data.h).
struct PendingVcpu {
  UniqueFd fd;
  uint32_t id;
  std::shared_ptr<MappedRegion> run_region;
};

}  // namespace

Napi::Function VcpuHandle::Define(Napi::Env env) {
  return DefineClass(env, "VcpuHandle",
                     {
                         CheckedAccessor<VcpuHandle, &VcpuHandle::GetFd>("fd"),
                         CheckedAccessor<VcpuHandle, &VcpuHandle::GetId>("id"),
                         CheckedAccessor<VcpuHandle, &VcpuHandle::GetClosed>("closed"),
                         CheckedAccessor<VcpuHandle, &VcpuHandle::GetKickToken>("kickToken"),
                         CheckedAccessor<VcpuHandle, &VcpuHandle::GetRunBuffer>("runBuffer"),
                         CheckedMethod<VcpuHandle, &VcpuHandle::Run>("run"),
                         CheckedMethod<VcpuHandle, &VcpuHandle::SetRunClock>("setRunClock"),
                         CheckedMethod<VcpuHandle, &VcpuHandle::Close>("close"),
                     });
}

Napi::Value VcpuHandle::Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int kvm_fd = ArgFd(info, 0, "kvmFd");
  int vm_fd = ArgFd(info, 1, "vmFd");
  uint32_t id = ArgU32(info, 2, "vcpuId", kMaxVcpuId);
  int mmap_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (mmap_size < 0) throw ErrnoError(env, "KVM_GET_VCPU_MMAP_SIZE", errno);
  if (static_cast<size_t>(mmap_size) < sizeof(kvm_run)) throw ErrnoError(env, "KVM_GET_VCPU_MMAP_SIZE (too small)", EINVAL);
  UniqueFd fd(ioctl(vm_fd, KVM_CREATE_VCPU, static_cast<unsigned long>(id)));
  if (!fd.valid()) throw ErrnoError(env, "KVM_CREATE_VCPU", errno);
  void* run = mmap(nullptr, static_cast<size_t>(mmap_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (run == MAP_FAILED) throw ErrnoError(env, "mmap(kvm_run)", errno);
  // From here the region unmaps and fd closes themselves if the handle cannot be created.
  PendingVcpu pending{std::move(fd), id, std::make_shared<MappedRegion>(static_cast<uint8_t*>(run), static_cast<size_t>(mmap_size))};
  return NewAdopting(GetAddonData(env).vcpuHandle, &pending);
}

Napi::Value VcpuHandle::KickByToken(const Napi::CallbackInfo& info) {
  uint32_t token = ArgU32(info, 0, "token");
  return Napi::Boolean::New(info.Env(), Kick(token));
}

VcpuHandle::VcpuHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VcpuHandle>(info) {
  TagObject(info, kVcpuHandleTag);
  Napi::Env env = info.Env();
  PendingVcpu* pending = TakeAdoption<PendingVcpu>(info, "VcpuHandle");
  id_ = pending->id;
  run_region_ = pending->run_region;
  run_ = reinterpret_cast<kvm_run*>(run_region_->base());
  thread_ = pthread_self();
  // Steps that can throw come before the kick registration, which must not outlive a failed constructor.
  run_buffer_ = Napi::Reference<Napi::ArrayBuffer>::New(ViewOf(env, run_region_, 0, run_region_->size()), 1);
  fd_ = std::move(pending->fd);
  PrepareKickSignal();
  kick_token_ = RegisterKickTarget(thread_, run_);
}

VcpuHandle::~VcpuHandle() {
  // Finalizer context: no JS values. The kvm_run mapping is released when its last view is collected;
  // fd_ closes itself.
  if (kick_token_ != 0) UnregisterKickTarget(kick_token_);
}

Napi::Value VcpuHandle::GetFd(const Napi::CallbackInfo& info) {
  if (!fd_.valid()) throw ErrnoError(info.Env(), "fd (vCPU is closed)", EBADF);
  return Napi::Number::New(info.Env(), fd_.get());
}

Napi::Value VcpuHandle::GetId(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), id_); }

Napi::Value VcpuHandle::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !fd_.valid()); }

Napi::Value VcpuHandle::GetKickToken(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), kick_token_); }

Napi::Value VcpuHandle::GetRunBuffer(const Napi::CallbackInfo& info) {
  if (!fd_.valid()) throw ErrnoError(info.Env(), "runBuffer (vCPU is closed)", EBADF);
  return run_buffer_.Value();
}

Napi::Value VcpuHandle::Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!fd_.valid()) throw ErrnoError(env, "KVM_RUN (vCPU is closed)", EBADF);
  if (!pthread_equal(pthread_self(), thread_)) {
    throw Napi::Error::New(env, "KVM_RUN must be called on the thread that created the vCPU");
  }
  double* clock = run_clock_;
  double entered = clock != nullptr ? MonotonicNs() : 0;
  if (clock != nullptr) clock[1] = entered;
  int result = ioctl(fd_.get(), KVM_RUN, 0);
  int err = errno;
  if (clock != nullptr) {
    clock[0] += MonotonicNs() - entered;
    clock[1] = 0;
  }
  if (result < 0) {
    if (err == EINTR) {
      // The kicker set immediate_exit before signalling; clear it so the next run() enters the guest.
      __atomic_store_n(&run_->immediate_exit, 0, __ATOMIC_SEQ_CST);
      return Napi::Number::New(env, KVM_EXIT_INTR);
    }
    throw ErrnoError(env, "KVM_RUN", err);
  }
  return Napi::Number::New(env, run_->exit_reason);
}

Napi::Value VcpuHandle::SetRunClock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(env, "counters must be a Float64Array");
  }
  Napi::Float64Array counters = info[0].As<Napi::Float64Array>();
  if (counters.ElementLength() < 2) throw Napi::RangeError::New(env, "counters must hold at least 2 slots");
  uint32_t index = ArgU32(info, 1, "index", static_cast<uint32_t>(counters.ElementLength() - 2));
  run_clock_ref_ = Napi::Persistent(counters);
  run_clock_ = counters.Data() + index;
  return env.Undefined();
}

Napi::Value VcpuHandle::Close(const Napi::CallbackInfo& info) {
  run_clock_ = nullptr;
  run_clock_ref_.Reset();
  if (kick_token_ != 0) {
    UnregisterKickTarget(kick_token_);
    kick_token_ = 0;
  }
  if (!run_buffer_.IsEmpty()) {
    Napi::ArrayBuffer buffer = run_buffer_.Value();
    if (!buffer.IsDetached()) buffer.Detach();
    run_buffer_.Reset();
  }
  if (run_region_) {
    run_region_->Unmap();
    run_region_.reset();
    run_ = nullptr;
  }
  fd_.Reset();
  return info.Env().Undefined();
}

}  // namespace vmm
