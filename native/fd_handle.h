// FdHandle: the one owner of a file descriptor (/dev/kvm, eventfd). Closed by close() or, failing that,
// when the handle is garbage collected or its environment is torn down.
#pragma once

#include <napi.h>

#include "addon_data.h"

#include "unique_fd.h"

namespace vmm {

class FdHandle : public Napi::ObjectWrap<FdHandle> {
 public:
  static constexpr const char* kClassName = "FdHandle";
  static constexpr const napi_type_tag& kTag = kFdHandleTag;
  static Napi::Function Define(Napi::Env env);
  // The handle adopts `fd`; if the object cannot be created, `fd` is closed on the way out.
  static Napi::Object Wrap(Napi::Env env, UniqueFd fd);
  // Closes the descriptor of a handle made by Wrap() (a step after it failed).
  static void CloseWrapped(Napi::Object handle);

  explicit FdHandle(const Napi::CallbackInfo& info);
  ~FdHandle() override;

 private:
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  UniqueFd fd_;
};

// What the fd-owning handle classes' constructors do: take over the factory's UniqueFd, which the
// factory passed to NewAdopting and owns until then.
UniqueFd AdoptFd(const Napi::CallbackInfo& info, const char* className);

}  // namespace vmm
