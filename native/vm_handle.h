// VmHandle: the owner of a VM file descriptor. It also owns the memory-slot table, so the ioctls that
// carry host pointers (SET_USER_MEMORY_REGION, GET_DIRTY_LOG) are validated here, never trusted from JS.
#pragma once

#include <napi.h>

#include "addon_data.h"

#include <cstdint>
#include <map>
#include <memory>

#include "mapped_region.h"
#include "unique_fd.h"

namespace vmm {

class VmHandle : public Napi::ObjectWrap<VmHandle> {
 public:
  static constexpr const char* kClassName = "VmHandle";
  static constexpr const napi_type_tag& kTag = kVmHandleTag;
  static Napi::Function Define(Napi::Env env);
  // createVm(kvmFd: number, machineType?: number): VmHandle
  static Napi::Value Create(const Napi::CallbackInfo& info);

  explicit VmHandle(const Napi::CallbackInfo& info);
  ~VmHandle() override;

 private:
  struct Slot {
    uint64_t guest_address;
    uint64_t size;
    uint32_t flags;
    std::shared_ptr<RegionSlotUse> use;  // keeps the host memory alive and mapped while KVM may use it
  };

  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  // closeInBackground(): Promise<void>: closes the fd on a libuv pool thread (a VM with a PIT takes
  // milliseconds to tear down in close()); the handle is closed for JS at once.
  Napi::Value CloseInBackground(const Napi::CallbackInfo& info);
  // setUserMemoryRegion(slot, flags, guestAddress, hostAddress: bigint, size): size 0 deletes the slot
  Napi::Value SetUserMemoryRegion(const Napi::CallbackInfo& info);
  // getDirtyLog(slot): ArrayBuffer bitmap, one bit per page of the slot
  Napi::Value GetDirtyLog(const Napi::CallbackInfo& info);
  int LiveFd(Napi::Env env, const char* op);

  std::map<uint32_t, Slot> slots_;
  UniqueFd fd_;  // declared last so it is closed first, before the slots release their memory
};

}  // namespace vmm
