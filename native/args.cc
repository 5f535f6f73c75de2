#include "args.h"

#include <cmath>
#include <limits>
#include <string>

#include "errors.h"

namespace vmm {

namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;

Napi::Value Arg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (index >= info.Length()) throw ArgError(info.Env(), name, "is missing");
  return info[index];
}

double IntegerNumber(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value value = Arg(info, index, name);
  if (!value.IsNumber()) throw ArgError(info.Env(), name, "must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || std::trunc(number) != number) {
    throw RangeArgError(info.Env(), name, "must be an integer");
  }
  return number;
}

}  // namespace

int ArgFd(const Napi::CallbackInfo& info, size_t index, const char* name) {
  double number = IntegerNumber(info, index, name);
  if (number < 0 || number > std::numeric_limits<int32_t>::max()) {
    throw RangeArgError(info.Env(), name, "must be a file descriptor (0 to 2^31-1)");
  }
  return static_cast<int>(number);
}

uint32_t ArgU32(const Napi::CallbackInfo& info, size_t index, const char* name, uint32_t max) {
  double number = IntegerNumber(info, index, name);
  if (number < 0 || number > max) {
    std::string what = "must be between 0 and " + std::to_string(max);
    throw RangeArgError(info.Env(), name, what.c_str());
  }
  return static_cast<uint32_t>(number);
}

uint64_t ArgU64(const Napi::CallbackInfo& info, size_t index, const char* name) {
  return U64Value(info.Env(), Arg(info, index, name), name);
}

uint64_t U64Value(Napi::Env env, const Napi::Value& value, const char* name) {
  if (value.IsBigInt()) {
    bool lossless = false;
    uint64_t word = value.As<Napi::BigInt>().Uint64Value(&lossless);
    // napi reports negative and wider-than-64-bit values as lossy.
    if (!lossless) throw RangeArgError(env, name, "must be a non-negative bigint below 2^64");
    return word;
  }
  if (!value.IsNumber()) throw ArgError(env, name, "must be a bigint or a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || std::trunc(number) != number) throw RangeArgError(env, name, "must be an integer");
  if (number < 0 || number > kMaxSafeInteger) {
    throw RangeArgError(env, name, "must be a non-negative safe integer (use a bigint above 2^53)");
  }
  return static_cast<uint64_t>(number);
}

Napi::Object ArgOptions(const Napi::CallbackInfo& info, size_t index) {
  if (index >= info.Length() || info[index].IsUndefined()) return Napi::Object::New(info.Env());
  if (!info[index].IsObject()) throw ArgError(info.Env(), "options", "must be an object");
  return info[index].As<Napi::Object>();
}

bool OptionBool(const Napi::Object& options, const char* key, const char* name, bool fallback) {
  Napi::Value value = options.Get(key);
  if (value.IsUndefined()) return fallback;
  if (!value.IsBoolean()) throw ArgError(options.Env(), name, "must be a boolean");
  return value.As<Napi::Boolean>().Value();
}

uint64_t OptionU64(const Napi::Object& options, const char* key, const char* name, uint64_t fallback) {
  Napi::Value value = options.Get(key);
  if (value.IsUndefined()) return fallback;
  return U64Value(options.Env(), value, name);
}

bool ArgBool(const Napi::CallbackInfo& info, size_t index, const char* name, bool fallback) {
  if (index >= info.Length() || info[index].IsUndefined()) return fallback;
  if (!info[index].IsBoolean()) throw ArgError(info.Env(), name, "must be a boolean");
  return info[index].As<Napi::Boolean>().Value();
}

ByteSpan ArgBytes(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value value = Arg(info, index, name);
  napi_env env = info.Env();
  // The raw calls, unlike node-addon-api's ArrayBuffer(), also accept views over SharedArrayBuffers.
  if (value.IsArrayBuffer()) {
    Napi::ArrayBuffer buffer = value.As<Napi::ArrayBuffer>();
    return {static_cast<uint8_t*>(buffer.Data()), buffer.ByteLength()};
  }
  if (value.IsTypedArray()) {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr) != napi_ok) {
      throw ArgError(info.Env(), name, "is a TypedArray whose memory cannot be read");
    }
    return {static_cast<uint8_t*>(data), value.As<Napi::TypedArray>().ByteLength()};
  }
  if (value.IsDataView()) {
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_dataview_info(env, value, &length, &data, nullptr, nullptr) != napi_ok) {
      throw ArgError(info.Env(), name, "is a DataView whose memory cannot be read");
    }
    return {static_cast<uint8_t*>(data), length};
  }
  throw ArgError(info.Env(), name, "must be an ArrayBuffer, a TypedArray or a DataView");
}

std::string ArgString(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value value = Arg(info, index, name);
  if (!value.IsString()) throw ArgError(info.Env(), name, "must be a string");
  return value.As<Napi::String>().Utf8Value();
}

}  // namespace vmm
