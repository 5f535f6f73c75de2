// FdHandle: the one owner of a file descriptor (/dev/kvm, eventfd). Closed by close() or, failing that,
// when the handle is garbage collected or its environment is torn down.
#pragma once

#include <napi.h>

namespace vmm {

class FdHandle : public Napi::ObjectWrap<FdHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, int fd);

  explicit FdHandle(const Napi::CallbackInfo& info);
  ~FdHandle() override;

 private:
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  int fd_ = -1;
};

// Reads the construction arguments (token, fd) shared by every handle class.
int ConstructedFd(const Napi::CallbackInfo& info, const char* className);

}  // namespace vmm
