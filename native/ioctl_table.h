// The KVM ioctls the addon passes through, described once: name, request number, and the exact size
// (or size rule) of the struct JS must hand over. Ioctls whose structs carry host pointers are not in
// this table; they have dedicated, validating entry points (VmHandle, VcpuHandle).
#pragma once

#include <napi.h>

#include <cstddef>

namespace vmm {

enum class StructShape {
  kFixed,    // exactly `size` bytes
  kMsrs,     // struct kvm_msrs: u32 nmsrs, u32 pad, then nmsrs × kvm_msr_entry
  kCpuid2,   // struct kvm_cpuid2: u32 nent, u32 pad, then nent × kvm_cpuid_entry2
  kMsrList,  // struct kvm_msr_list: u32 nmsrs, then nmsrs × u32
};

struct StructIoctl {
  const char* name;
  unsigned long request;
  size_t size;  // fixed size, or the entry size for the variable shapes
  StructShape shape;
};

struct ValueIoctl {
  const char* name;
  unsigned long request;
};

// ioctlStruct(fd, id, bytes): number (the ioctl's return value)
Napi::Value IoctlStruct(const Napi::CallbackInfo& info);
// ioctlValue(fd, id, arg): number
Napi::Value IoctlValue(const Napi::CallbackInfo& info);
// { structs: { NAME: { id, size, shape } }, values: { NAME: id } }
Napi::Object DescribeIoctls(Napi::Env env);

}  // namespace vmm
