#include "fd_handle.h"

#include <string>

#include "addon_data.h"
#include "errors.h"

namespace vmm {

Napi::Value FdConstructionArgument(Napi::Env env, UniqueFd& fd) { return Napi::External<UniqueFd>::New(env, &fd); }

UniqueFd AdoptFd(const Napi::CallbackInfo& info, const char* className) {
  if (info.Length() < 2 || !IsConstructionToken(info[0]) || !info[1].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), std::string(className) + " objects are created by the addon only");
  }
  return std::move(*info[1].As<Napi::External<UniqueFd>>().Data());
}

Napi::Function FdHandle::Define(Napi::Env env) {
  return DefineClass(env, "FdHandle",
                     {
                         InstanceAccessor<&FdHandle::GetFd>("fd"),
                         InstanceAccessor<&FdHandle::GetClosed>("closed"),
                         InstanceMethod<&FdHandle::Close>("close"),
                     });
}

Napi::Object FdHandle::Wrap(Napi::Env env, UniqueFd fd) {
  return GetAddonData(env).fdHandle.New({ConstructionToken(env), FdConstructionArgument(env, fd)});
}

void FdHandle::CloseWrapped(Napi::Object handle) { Unwrap(handle)->fd_.Reset(); }

FdHandle::FdHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdHandle>(info) {
  TagObject(info, kFdHandleTag);
  fd_ = AdoptFd(info, "FdHandle");
}

FdHandle::~FdHandle() = default;  // fd_ closes itself

Napi::Value FdHandle::GetFd(const Napi::CallbackInfo& info) {
  RequireTag(info, kFdHandleTag, "FdHandle");
  if (!fd_.valid()) throw ErrnoError(info.Env(), "fd (handle is closed)", EBADF);
  return Napi::Number::New(info.Env(), fd_.get());
}

Napi::Value FdHandle::GetClosed(const Napi::CallbackInfo& info) {
  RequireTag(info, kFdHandleTag, "FdHandle");
  return Napi::Boolean::New(info.Env(), !fd_.valid());
}

Napi::Value FdHandle::Close(const Napi::CallbackInfo& info) {
  RequireTag(info, kFdHandleTag, "FdHandle");
  fd_.Reset();
  return info.Env().Undefined();
}

}  // namespace vmm
