#include "system_calls.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
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
constexpr uint64_t kMaxFileOffset = 0x7fffffffffffffffULL;
constexpr size_t kMaxMemfdName = 249;  // NAME_MAX less the "memfd:" prefix the kernel adds
constexpr unsigned kMemfdCloexec = 0x0001U;  // MFD_CLOEXEC
}  // namespace

Napi::Value OpenKvm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info.Length() > 0 && !info[0].IsUndefined() ? ArgString(info, 0, "path") : kDefaultKvmPath;
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) {
    Napi::Error error = ErrnoError(env, "open", errno);
    error.Set("path", Napi::String::New(env, path));
    throw error;
  }
  return FdHandle::Wrap(env, std::move(fd));
}

Napi::Value CreateEventfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t initial = ArgU32(info, 0, "initialValue");
  bool nonblocking = ArgBool(info, 1, "nonblocking", true);
  bool semaphore = ArgBool(info, 2, "semaphore", false);
  int flags = EFD_CLOEXEC | (nonblocking ? EFD_NONBLOCK : 0) | (semaphore ? EFD_SEMAPHORE : 0);
  UniqueFd fd(eventfd(initial, flags));
  if (!fd.valid()) throw ErrnoError(env, "eventfd", errno);
  return FdHandle::Wrap(env, std::move(fd));
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

Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "name");
  if (name.size() > kMaxMemfdName) throw RangeArgError(env, "name", "must be at most 249 bytes");
  if (name.find('\0') != std::string::npos) throw RangeArgError(env, "name", "must not contain NUL characters");
  // The raw system call: glibc's memfd_create() wrapper needs glibc 2.27 (README, Building).
  UniqueFd fd(static_cast<int>(syscall(SYS_memfd_create, name.c_str(), kMemfdCloexec)));
  if (!fd.valid()) throw ErrnoError(env, "memfd_create", errno);
  return FdHandle::Wrap(env, std::move(fd));
}

Napi::Value Ftruncate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint64_t size = ArgU64(info, 1, "size");
  if (size > kMaxFileOffset) throw RangeArgError(env, "size", "must be below 2^63");
  int result;
  do {
    result = ftruncate(fd, static_cast<off_t>(size));
  } while (result != 0 && errno == EINTR);
  if (result != 0) throw ErrnoError(env, "ftruncate", errno);
  return env.Undefined();
}

}  // namespace vmm
