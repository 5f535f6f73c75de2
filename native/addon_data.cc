#include "addon_data.h"

#include <string>

namespace vmm {

AddonData& GetAddonData(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

adoption::Slot& adoption::ThisThread() {
  static thread_local Slot slot;
  return slot;
}

const napi_type_tag kFdHandleTag = {0x6e6f64652d766d6dULL, 0x0000000000000001ULL};
const napi_type_tag kVmHandleTag = {0x6e6f64652d766d6dULL, 0x0000000000000002ULL};
const napi_type_tag kVcpuHandleTag = {0x6e6f64652d766d6dULL, 0x0000000000000003ULL};
const napi_type_tag kGuestMappingTag = {0x6e6f64652d766d6dULL, 0x0000000000000004ULL};
const napi_type_tag kFdWatcherTag = {0x6e6f64652d766d6dULL, 0x0000000000000005ULL};

void TagObject(const Napi::CallbackInfo& info, const napi_type_tag& tag) { info.This().As<Napi::Object>().TypeTag(&tag); }

void RequireTag(const Napi::CallbackInfo& info, const napi_type_tag& tag, const char* className) {
  Napi::Value self = info.This();
  if (!self.IsObject() || !self.As<Napi::Object>().CheckTypeTag(&tag)) {
    throw Napi::TypeError::New(info.Env(), std::string("receiver is not a ") + className);
  }
}

}  // namespace vmm
