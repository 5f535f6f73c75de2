// FdWatcher: calls a JS function on this thread's event loop whenever a descriptor becomes readable
// (a libuv poll handle), so eventfds (ioeventfd notifications) wake device back ends without a thread
// blocked in read(). It does not own the descriptor: close the watcher before the descriptor.
#pragma once

#include <napi.h>

#include "addon_data.h"
#include <uv.h>

namespace vmm {

class FdWatcher : public Napi::ObjectWrap<FdWatcher> {
 public:
  static constexpr const char* kClassName = "FdWatcher";
  static constexpr const napi_type_tag& kTag = kFdWatcherTag;
  static Napi::Function Define(Napi::Env env);
  // watchFd(fd: number, onReadable: () => void): FdWatcher
  static Napi::Value Watch(const Napi::CallbackInfo& info);

  explicit FdWatcher(const Napi::CallbackInfo& info);
  ~FdWatcher() override;

 private:
  static void OnPoll(uv_poll_t* handle, int status, int events);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void Stop();

  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference callback_;
};

}  // namespace vmm
