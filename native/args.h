// Validation of every argument the addon receives from JS. Each helper throws a typed JS error
// naming the argument when the value is missing, of the wrong type, or out of range.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace vmm {

struct ByteSpan {
  uint8_t* data;
  size_t length;
};

// A file descriptor: an integer in [0, INT32_MAX].
int ArgFd(const Napi::CallbackInfo& info, size_t index, const char* name);

// An unsigned integer Number in [0, max].
uint32_t ArgU32(const Napi::CallbackInfo& info, size_t index, const char* name, uint32_t max = UINT32_MAX);

// An unsigned 64-bit value: a BigInt (lossless, non-negative) or a safe non-negative integer Number.
uint64_t ArgU64(const Napi::CallbackInfo& info, size_t index, const char* name);

// The same rule for a value that is not a positional argument (an options field).
uint64_t U64Value(Napi::Env env, const Napi::Value& value, const char* name);

// An options object: an empty one when the argument is absent/undefined, a TypeError when not an object.
Napi::Object ArgOptions(const Napi::CallbackInfo& info, size_t index);
// Fields of an options object, `fallback` when undefined; `name` is what errors call it ("options.x").
bool OptionBool(const Napi::Object& options, const char* key, const char* name, bool fallback);
uint64_t OptionU64(const Napi::Object& options, const char* key, const char* name, uint64_t fallback);

// A boolean, or `fallback` when the argument is absent/undefined.
bool ArgBool(const Napi::CallbackInfo& info, size_t index, const char* name, bool fallback);

// The bytes of an ArrayBuffer or any ArrayBufferView (Uint8Array, DataView, ...).
ByteSpan ArgBytes(const Napi::CallbackInfo& info, size_t index, const char* name);

// A string.
std::string ArgString(const Napi::CallbackInfo& info, size_t index, const char* name);

}  // namespace vmm
