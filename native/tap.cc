#include "tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "args.h"
#include "errors.h"
#include "fd_handle.h"

namespace vmm {

namespace {

constexpr const char* kTunPath = "/dev/net/tun";
constexpr size_t kMaxIovecs = 1024;

std::vector<iovec> ArgIovecs(const Napi::CallbackInfo& info, size_t index) {
  Napi::Env env = info.Env();
  if (info.Length() <= index || !info[index].IsArray()) throw Napi::TypeError::New(env, "buffers must be an array of Uint8Array");
  Napi::Array array = info[index].As<Napi::Array>();
  if (array.Length() > kMaxIovecs) throw Napi::RangeError::New(env, "buffers: at most 1024 entries");
  std::vector<iovec> iovecs;
  iovecs.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value value = array.Get(i);
    if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(env, "buffers[" + std::to_string(i) + "] must be a Uint8Array");
    }
    Napi::Uint8Array bytes = value.As<Napi::Uint8Array>();
    iovecs.push_back({bytes.Data(), bytes.ByteLength()});
  }
  return iovecs;
}

}  // namespace

Napi::Value OpenTap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info.Length() > 0 && !info[0].IsUndefined() ? ArgString(info, 0, "name") : "";
  if (name.size() >= IFNAMSIZ) throw Napi::RangeError::New(env, "name: at most 15 characters");
  UniqueFd fd(open(kTunPath, O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) throw ErrnoError(env, "open(/dev/net/tun)", errno);
  ifreq request{};
  request.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::memcpy(request.ifr_name, name.data(), name.size());
  if (ioctl(fd.get(), TUNSETIFF, &request) < 0) throw ErrnoError(env, "TUNSETIFF", errno);
  Napi::Object result = Napi::Object::New(env);
  result.Set("name", Napi::String::New(env, request.ifr_name));
  Napi::Object handle = FdHandle::Wrap(env, std::move(fd));
  try {
    // A setter on Object.prototype can make this throw; the TAP must not stay open behind it.
    result.Set("handle", handle);
  } catch (...) {
    FdHandle::CloseWrapped(handle);
    throw;
  }
  return result;
}

Napi::Value ReadvFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  std::vector<iovec> iovecs = ArgIovecs(info, 1);
  ssize_t got = readv(fd, iovecs.data(), static_cast<int>(iovecs.size()));
  if (got < 0) {
    if (errno == EAGAIN) return env.Null();
    throw ErrnoError(env, "readv", errno);
  }
  return Napi::Number::New(env, static_cast<double>(got));
}

Napi::Value WritevFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  std::vector<iovec> iovecs = ArgIovecs(info, 1);
  ssize_t put = writev(fd, iovecs.data(), static_cast<int>(iovecs.size()));
  if (put < 0) {
    if (errno == EAGAIN) return env.Null();
    throw ErrnoError(env, "writev", errno);
  }
  return Napi::Number::New(env, static_cast<double>(put));
}

}  // namespace vmm
