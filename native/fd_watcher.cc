#include "fd_watcher.h"

#include <string>

#include "addon_data.h"
#include "args.h"
#include "errors.h"

namespace vmm {

namespace {
struct PendingWatch {
  int fd;
};
}  // namespace

Napi::Function FdWatcher::Define(Napi::Env env) {
  return DefineClass(env, "FdWatcher",
                     {
                         CheckedAccessor<FdWatcher, &FdWatcher::GetClosed>("closed"),
                         CheckedMethod<FdWatcher, &FdWatcher::Close>("close"),
                     });
}

Napi::Value FdWatcher::Watch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  if (info.Length() < 2 || !info[1].IsFunction()) throw Napi::TypeError::New(env, "onReadable must be a function");
  PendingWatch pending{fd};
  return NewAdopting(GetAddonData(env).fdWatcher, &pending, {info[1]});
}

FdWatcher::FdWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatcher>(info) {
  Napi::Env env = info.Env();
  TagObject(info, kFdWatcherTag);
  int fd = TakeAdoption<PendingWatch>(info, "FdWatcher")->fd;
  if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "onReadable must be a function");
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) throw Napi::Error::New(env, "watchFd: no event loop on this thread");
  auto* poll = new uv_poll_t;
  int err = uv_poll_init(loop, poll, fd);
  if (err != 0) {
    delete poll;
    throw ErrnoError(env, "uv_poll_init", -err);
  }
  poll->data = this;
  err = uv_poll_start(poll, UV_READABLE, OnPoll);
  if (err != 0) {
    poll->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll), [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
    throw ErrnoError(env, "uv_poll_start", -err);
  }
  poll_ = poll;
  callback_ = Napi::Persistent(info[0].As<Napi::Function>());
}

FdWatcher::~FdWatcher() { Stop(); }

void FdWatcher::OnPoll(uv_poll_t* handle, int status, int /*events*/) {
  auto* self = static_cast<FdWatcher*>(handle->data);
  if (self == nullptr || self->callback_.IsEmpty()) return;
  Napi::Env env = self->callback_.Env();
  Napi::HandleScope scope(env);
  try {
    self->callback_.Call({Napi::Number::New(env, status)});
  } catch (const Napi::Error& error) {
    // Not inside a JS call: hand the exception to process 'uncaughtException' like any callback's.
    napi_fatal_exception(env, error.Value());
  }
}

void FdWatcher::Stop() {
  if (poll_ == nullptr) return;
  uv_poll_stop(poll_);
  poll_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
  poll_ = nullptr;
  callback_.Reset();
}

Napi::Value FdWatcher::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), poll_ == nullptr);
}

Napi::Value FdWatcher::Close(const Napi::CallbackInfo& info) {
  Stop();
  return info.Env().Undefined();
}

}  // namespace vmm
