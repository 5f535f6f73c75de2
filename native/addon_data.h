// Per-environment (main thread or worker) constructors of the addon's classes.
#pragma once

#include <napi.h>

namespace vmm {

struct AddonData {
  Napi::FunctionReference fdHandle;
  Napi::FunctionReference vmHandle;
  Napi::FunctionReference vcpuHandle;
  Napi::FunctionReference guestMapping;
  Napi::FunctionReference fdWatcher;
};

AddonData& GetAddonData(Napi::Env env);

// Handle classes are created only by the addon: their constructors demand this token as first argument,
// so JS cannot wrap (and later close) an arbitrary descriptor or address.
Napi::External<void> ConstructionToken(Napi::Env env);
bool IsConstructionToken(const Napi::Value& value);

// One type tag per handle class, set by its constructor. Accessors have no receiver check in V8, so a
// getter taken off one prototype and called on another object (getter.call(other)) would otherwise
// treat that object's native data as its own class; every accessor and method checks the tag first.
extern const napi_type_tag kFdHandleTag;
extern const napi_type_tag kVmHandleTag;
extern const napi_type_tag kVcpuHandleTag;
extern const napi_type_tag kGuestMappingTag;
extern const napi_type_tag kFdWatcherTag;
void TagObject(const Napi::CallbackInfo& info, const napi_type_tag& tag);
void RequireTag(const Napi::CallbackInfo& info, const napi_type_tag& tag, const char* className);

}  // namespace vmm
