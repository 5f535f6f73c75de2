#include "addon_data.h"

namespace vmm {

namespace {
int construction_token_tag = 0;
}

AddonData& GetAddonData(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

Napi::External<void> ConstructionToken(Napi::Env env) {
  return Napi::External<void>::New(env, &construction_token_tag);
}

bool IsConstructionToken(const Napi::Value& value) {
  return value.IsExternal() && value.As<Napi::External<void>>().Data() == &construction_token_tag;
}

}  // namespace vmm
