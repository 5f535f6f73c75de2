#include "fd_handle.h"

#include <unistd.h>

#include <string>

#include "addon_data.h"
#include "errors.h"

namespace vmm {

int ConstructedFd(const Napi::CallbackInfo& info, const char* className) {
  if (info.Length() < 2 || !IsConstructionToken(info[0]) || !info[1].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(className) + " objects are created by the addon only");
  }
  return info[1].As<Napi::Number>().Int32Value();
}

Napi::Function FdHandle::Define(Napi::Env env) {
  return DefineClass(env, "FdHandle",
                     {
                         InstanceAccessor<&FdHandle::GetFd>("fd"),
                         InstanceAccessor<&FdHandle::GetClosed>("closed"),
                         InstanceMethod<&FdHandle::Close>("close"),
                     });
}

Napi::Object FdHandle::Wrap(Napi::Env env, int fd) {
  return GetAddonData(env).fdHandle.New({ConstructionToken(env), Napi::Number::New(env, fd)});
}

FdHandle::FdHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdHandle>(info) {
  TagObject(info, kFdHandleTag);
  fd_ = ConstructedFd(info, "FdHandle");
}

FdHandle::~FdHandle() {
  if (fd_ >= 0) ::close(fd_);
}

Napi::Value FdHandle::GetFd(const Napi::CallbackInfo& info) {
  RequireTag(info, kFdHandleTag, "FdHandle");
  if (fd_ < 0) throw ErrnoError(info.Env(), "fd (handle is closed)", EBADF);
  return Napi::Number::New(info.Env(), fd_);
}

Napi::Value FdHandle::GetClosed(const Napi::CallbackInfo& info) {
  RequireTag(info, kFdHandleTag, "FdHandle");
  return Napi::Boolean::New(info.Env(), fd_ < 0);
}

Napi::Value FdHandle::Close(const Napi::CallbackInfo& info) {
  RequireTag(info, kFdHandleTag, "FdHandle");
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  return info.Env().Undefined();
}

}  // namespace vmm
