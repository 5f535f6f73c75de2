// Per-environment (main thread or worker) constructors of the addon's classes.
#pragma once

#include <napi.h>

#include <initializer_list>
#include <string>

namespace vmm {

struct AddonData {
  Napi::FunctionReference fdHandle;
  Napi::FunctionReference vmHandle;
  Napi::FunctionReference vcpuHandle;
  Napi::FunctionReference guestMapping;
  Napi::FunctionReference fdWatcher;
};

AddonData& GetAddonData(Napi::Env env);

// Handle classes are created only by the addon, so JS cannot wrap (and later close) an arbitrary
// descriptor or address: a factory puts what the new object is to adopt in this thread's adoption slot
// for the length of its New() call (NewAdopting), and the constructor takes it from there (TakeAdoption);
// a constructor called from JS finds the slot empty and throws. No JS runs in between, and nothing is
// allocated for it (an External per call would be, and kept until V8 collects it).
namespace adoption {
struct Slot {
  const void* type = nullptr;
  void* data = nullptr;
};
Slot& ThisThread();
template <typename P>
const void* TypeKey() {
  static const char key = 0;
  return &key;
}
}  // namespace adoption

template <typename P>
Napi::Object NewAdopting(Napi::FunctionReference& constructor, P* pending, const std::initializer_list<napi_value>& args = {}) {
  adoption::Slot& slot = adoption::ThisThread();
  slot = {adoption::TypeKey<P>(), pending};
  struct Clear {
    adoption::Slot& slot;
    ~Clear() { slot = {}; }
  } clear{slot};
  return constructor.New(args);
}

template <typename P>
P* TakeAdoption(const Napi::CallbackInfo& info, const char* className) {
  adoption::Slot& slot = adoption::ThisThread();
  if (slot.type != adoption::TypeKey<P>()) throw Napi::TypeError::New(info.Env(), std::string(className) + " objects are created by the addon only");
  P* pending = static_cast<P*>(slot.data);
  slot = {};
  return pending;
}

// One type tag per handle class, set by its constructor. Accessors have no receiver check in V8, so a
// getter taken off one prototype and called on another object (getter.call(other)) would otherwise
// treat that object's native data as its own class; every accessor and method checks the tag first.
extern const napi_type_tag kFdHandleTag;
extern const napi_type_tag kVmHandleTag;
extern const napi_type_tag kVcpuHandleTag;
extern const napi_type_tag kGuestMappingTag;
extern const napi_type_tag kFdWatcherTag;
void TagObject(const Napi::CallbackInfo& info, const napi_type_tag& tag);
void RequireTag(const Napi::CallbackInfo& info, const napi_type_tag& tag, const char* className);

// Prototype methods and accessors that check the receiver's tag before the member function is called
// on it: node-addon-api's InstanceMethod/InstanceAccessor would call it first, on an object of another
// class when JS takes a method off one prototype and calls it on another, which is undefined behaviour
// (UBSan's vptr check stops there) even if the method's first act is to throw. T names its tag and
// class name as static members kTag and kClassName.
template <typename T, Napi::Value (T::*Method)(const Napi::CallbackInfo&)>
napi_value CheckedCall(napi_env env, napi_callback_info raw) {
  try {
    Napi::CallbackInfo info(env, raw);
    RequireTag(info, T::kTag, T::kClassName);
    T* self = T::Unwrap(info.This().As<Napi::Object>());
    if (self == nullptr) throw Napi::TypeError::New(env, std::string("receiver is not a ") + T::kClassName);
    return (self->*Method)(info);
  } catch (const Napi::Error& error) {
    error.ThrowAsJavaScriptException();
    return nullptr;
  }
}

template <typename T, Napi::Value (T::*Method)(const Napi::CallbackInfo&)>
Napi::ClassPropertyDescriptor<T> CheckedMethod(const char* name) {
  napi_property_descriptor descriptor = {name, nullptr, CheckedCall<T, Method>, nullptr, nullptr, nullptr, napi_default_method, nullptr};
  return Napi::ClassPropertyDescriptor<T>(descriptor);
}

template <typename T, Napi::Value (T::*Getter)(const Napi::CallbackInfo&)>
Napi::ClassPropertyDescriptor<T> CheckedAccessor(const char* name) {
  napi_property_descriptor descriptor = {name, nullptr, nullptr, CheckedCall<T, Getter>, nullptr, nullptr, napi_default, nullptr};
  return Napi::ClassPropertyDescriptor<T>(descriptor);
}

}  // namespace vmm
