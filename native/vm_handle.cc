#include "vm_handle.h"

#include <vector>

#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "addon_data.h"
#include "args.h"
#include "errors.h"
#include "fd_handle.h"

namespace vmm {

namespace {

constexpr uint64_t kPageSize = 4096;
constexpr uint32_t kMaxSlot = 0x7fff;  // address space 0 only
constexpr uint32_t kAllowedSlotFlags = KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY;

bool PageAligned(uint64_t value) { return value % kPageSize == 0; }

}  // namespace

Napi::Function VmHandle::Define(Napi::Env env) {
  return DefineClass(env, "VmHandle",
                     {
                         CheckedAccessor<VmHandle, &VmHandle::GetFd>("fd"),
                         CheckedAccessor<VmHandle, &VmHandle::GetClosed>("closed"),
                         CheckedMethod<VmHandle, &VmHandle::Close>("close"),
                         CheckedMethod<VmHandle, &VmHandle::CloseInBackground>("closeInBackground"),
                         CheckedMethod<VmHandle, &VmHandle::SetUserMemoryRegion>("setUserMemoryRegion"),
                         CheckedMethod<VmHandle, &VmHandle::GetDirtyLog>("getDirtyLog"),
                     });
}

Napi::Value VmHandle::Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int kvm_fd = ArgFd(info, 0, "kvmFd");
  uint32_t machine_type = info.Length() > 1 && !info[1].IsUndefined() ? ArgU32(info, 1, "machineType") : 0;
  UniqueFd fd(ioctl(kvm_fd, KVM_CREATE_VM, static_cast<unsigned long>(machine_type)));
  if (!fd.valid()) throw ErrnoError(env, "KVM_CREATE_VM", errno);
  return NewAdopting(GetAddonData(env).vmHandle, &fd);
}

VmHandle::VmHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VmHandle>(info) {
  TagObject(info, kVmHandleTag);
  fd_ = AdoptFd(info, "VmHandle");
}

VmHandle::~VmHandle() = default;  // fd_ closes itself

int VmHandle::LiveFd(Napi::Env env, const char* op) {
  if (!fd_.valid()) throw ErrnoError(env, (std::string(op) + " (VM is closed)").c_str(), EBADF);
  return fd_.get();
}

Napi::Value VmHandle::GetFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), LiveFd(info.Env(), "fd")); }

Napi::Value VmHandle::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !fd_.valid()); }

Napi::Value VmHandle::Close(const Napi::CallbackInfo& info) {
  fd_.Reset();
  slots_.clear();
  return info.Env().Undefined();
}

namespace {

class CloseWorker : public Napi::AsyncWorker {
 public:
  CloseWorker(Napi::Env env, UniqueFd fd, std::vector<std::shared_ptr<RegionSlotUse>> uses)
      : Napi::AsyncWorker(env, "node-vmm:close-vm"), uses_(std::move(uses)), fd_(std::move(fd)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { fd_.Reset(); }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  // The slots' claims on guest memory outlive the fd: an unmap stays refused until KVM has let go.
  std::vector<std::shared_ptr<RegionSlotUse>> uses_;
  UniqueFd fd_;  // closed by Execute on a pool thread, or by the destructor if the work never ran
  Napi::Promise::Deferred deferred_;
};

}  // namespace

Napi::Value VmHandle::CloseInBackground(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<std::shared_ptr<RegionSlotUse>> uses;
  for (auto& entry : slots_) uses.push_back(entry.second.use);
  slots_.clear();
  if (!fd_.valid()) {
    auto done = Napi::Promise::Deferred::New(env);
    done.Resolve(env.Undefined());
    return done.Promise();
  }
  auto* worker = new CloseWorker(env, std::move(fd_), std::move(uses));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value VmHandle::SetUserMemoryRegion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = LiveFd(env, "KVM_SET_USER_MEMORY_REGION");
  uint32_t slot = ArgU32(info, 0, "slot", kMaxSlot);
  uint32_t flags = ArgU32(info, 1, "flags");
  uint64_t guest_address = ArgU64(info, 2, "guestAddress");
  uint64_t host_address = ArgU64(info, 3, "hostAddress");
  uint64_t size = ArgU64(info, 4, "size");
  if ((flags & ~kAllowedSlotFlags) != 0) throw RangeArgError(env, "flags", "may only hold KVM_MEM_LOG_DIRTY_PAGES and KVM_MEM_READONLY");
  if (!PageAligned(guest_address)) throw RangeArgError(env, "guestAddress", "must be page aligned");
  if (!PageAligned(size)) throw RangeArgError(env, "size", "must be a multiple of the page size");
  std::shared_ptr<MappedRegion> region;
  if (size != 0) {
    if (!PageAligned(host_address)) throw RangeArgError(env, "hostAddress", "must be page aligned");
    if (guest_address + size < guest_address) throw RangeArgError(env, "guestAddress", "plus size overflows 64 bits");
    region = FindRegion(static_cast<uintptr_t>(host_address), static_cast<size_t>(size));
    if (!region) throw RangeArgError(env, "hostAddress", "and size must lie inside a live guest-memory mapping");
  }
  kvm_userspace_memory_region request = {};
  request.slot = slot;
  request.flags = flags;
  request.guest_phys_addr = guest_address;
  request.memory_size = size;
  request.userspace_addr = host_address;
  if (ioctl(fd, KVM_SET_USER_MEMORY_REGION, &request) < 0) throw ErrnoError(env, "KVM_SET_USER_MEMORY_REGION", errno);
  if (size == 0) {
    slots_.erase(slot);
  } else {
    slots_[slot] = Slot{guest_address, size, flags, std::make_shared<RegionSlotUse>(region)};
  }
  return env.Undefined();
}

Napi::Value VmHandle::GetDirtyLog(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = LiveFd(env, "KVM_GET_DIRTY_LOG");
  uint32_t slot = ArgU32(info, 0, "slot", kMaxSlot);
  auto it = slots_.find(slot);
  if (it == slots_.end()) throw RangeArgError(env, "slot", "is not a memory slot of this VM");
  if ((it->second.flags & KVM_MEM_LOG_DIRTY_PAGES) == 0) throw RangeArgError(env, "slot", "was not created with dirty-page logging");
  uint64_t pages = it->second.size / kPageSize;
  size_t bytes = static_cast<size_t>((pages + 63) / 64 * 8);  // KVM writes whole 64-bit words
  Napi::ArrayBuffer bitmap = Napi::ArrayBuffer::New(env, bytes);
  kvm_dirty_log request = {};
  request.slot = slot;
  request.dirty_bitmap = bitmap.Data();
  if (ioctl(fd, KVM_GET_DIRTY_LOG, &request) < 0) throw ErrnoError(env, "KVM_GET_DIRTY_LOG", errno);
  return bitmap;
}

}  // namespace vmm
