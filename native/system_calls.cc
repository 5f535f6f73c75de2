#include "system_calls.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "args.h"
#include "errors.h"
#include "fd_handle.h"

namespace vmm {

namespace {
constexpr const char* kDefaultKvmPath = "/dev/kvm";
constexpr uint64_t kMaxEventfdValue = 0xfffffffffffffffeULL;
}  // namespace

Napi::Value OpenKvm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info.Length() > 0 && !info[0].IsUndefined() ? ArgString(info, 0, "path") : kDefaultKvmPath;
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    Napi::Error error = ErrnoError(env, "open", errno);
    error.Set("path", Napi::String::New(env, path));
    throw error;
  }
  return FdHandle::Wrap(env, fd);
}

Napi::Value CreateEventfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t initial = ArgU32(info, 0, "initialValue");
  bool nonblocking = ArgBool(info, 1, "nonblocking", true);
  bool semaphore = ArgBool(info, 2, "semaphore", false);
  int flags = EFD_CLOEXEC | (nonblocking ? EFD_NONBLOCK : 0) | (semaphore ? EFD_SEMAPHORE : 0);
  int fd = eventfd(initial, flags);
  if (fd < 0) throw ErrnoError(env, "eventfd", errno);
  return FdHandle::Wrap(env, fd);
}

Napi::Value EventfdRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint64_t value = 0;
  ssize_t got = read(fd, &value, sizeof(value));
  if (got < 0) {
    if (errno == EAGAIN) return env.Null();
    throw ErrnoError(env, "read(eventfd)", errno);
  }
  if (got != sizeof(value)) throw ErrnoError(env, "read(eventfd) short read", EIO);
  return Napi::BigInt::New(env, value);
}

Napi::Value EventfdWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint64_t value = ArgU64(info, 1, "value");
  if (value == 0 || value > kMaxEventfdValue) throw RangeArgError(env, "value", "must be between 1 and 2^64-2");
  ssize_t put = write(fd, &value, sizeof(value));
  if (put < 0) throw ErrnoError(env, "write(eventfd)", errno);
  return env.Undefined();
}

}  // namespace vmm
