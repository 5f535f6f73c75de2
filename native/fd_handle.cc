#include "fd_handle.h"

#include <string>

#include "addon_data.h"
#include "errors.h"

namespace vmm {

UniqueFd AdoptFd(const Napi::CallbackInfo& info, const char* className) { return std::move(*TakeAdoption<UniqueFd>(info, className)); }

Napi::Function FdHandle::Define(Napi::Env env) {
  return DefineClass(env, "FdHandle",
                     {
                         CheckedAccessor<FdHandle, &FdHandle::GetFd>("fd"),
                         CheckedAccessor<FdHandle, &FdHandle::GetClosed>("closed"),
                         CheckedMethod<FdHandle, &FdHandle::Close>("close"),
                     });
}

Napi::Object FdHandle::Wrap(Napi::Env env, UniqueFd fd) {
  return NewAdopting(GetAddonData(env).fdHandle, &fd);
}

void FdHandle::CloseWrapped(Napi::Object handle) { Unwrap(handle)->fd_.Reset(); }

FdHandle::FdHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdHandle>(info) {
  TagObject(info, kFdHandleTag);
  fd_ = AdoptFd(info, "FdHandle");
}

FdHandle::~FdHandle() = default;  // fd_ closes itself

Napi::Value FdHandle::GetFd(const Napi::CallbackInfo& info) {
  if (!fd_.valid()) throw ErrnoError(info.Env(), "fd (handle is closed)", EBADF);
  return Napi::Number::New(info.Env(), fd_.get());
}

Napi::Value FdHandle::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !fd_.valid());
}

Napi::Value FdHandle::Close(const Napi::CallbackInfo& info) {
  fd_.Reset();
  return info.Env().Undefined();
}

}  // namespace vmm
