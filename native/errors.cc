#include "errors.h"

#include <cstring>
#include <string>

namespace vmm {

namespace {

std::string ErrnoCode(int err) {
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
  return "E" + std::to_string(err);
}

}  // namespace

Napi::Error ErrnoError(Napi::Env env, const char* op, int err) {
  std::string code = ErrnoCode(err);
  std::string message = std::string(op) + " failed: " + code + " (" + std::strerror(err) + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("syscall", Napi::String::New(env, op));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("code", Napi::String::New(env, code));
  return error;
}

Napi::TypeError ArgError(Napi::Env env, const char* name, const char* what) {
  Napi::TypeError error = Napi::TypeError::New(env, std::string("argument '") + name + "' " + what);
  error.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  return error;
}

Napi::RangeError RangeArgError(Napi::Env env, const char* name, const char* what) {
  Napi::RangeError error = Napi::RangeError::New(env, std::string("argument '") + name + "' " + what);
  error.Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
  return error;
}

}  // namespace vmm
