// Per-environment (main thread or worker) constructors of the addon's classes.
#pragma once

#include <napi.h>

namespace vmm {

struct AddonData {
  Napi::FunctionReference fdHandle;
  Napi::FunctionReference vmHandle;
  Napi::FunctionReference vcpuHandle;
  Napi::FunctionReference guestMapping;
};

AddonData& GetAddonData(Napi::Env env);

// Handle classes are created only by the addon: their constructors demand this token as first argument,
// so JS cannot wrap (and later close) an arbitrary descriptor or address.
Napi::External<void> ConstructionToken(Napi::Env env);
bool IsConstructionToken(const Napi::Value& value);

}  // namespace vmm
