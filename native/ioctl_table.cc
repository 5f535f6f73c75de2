#include "ioctl_table.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <vector>

#include "args.h"
#include "errors.h"

namespace vmm {

namespace {

constexpr uint32_t kMaxMsrEntries = 1024;

// Structs ending in a flexible array are sized differently by g++ than by C, and _IOR/_IOW encode the
// size into the request number. The kernel's ABI is C's, so these requests are spelled with C's sizes.
constexpr size_t kCpuid2HeaderBytes = 8;
constexpr size_t kMsrsHeaderBytes = 8;
constexpr size_t kMsrListHeaderBytes = 4;
constexpr size_t kXsaveBytes = 4096;
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, char[kCpuid2HeaderBytes]);
constexpr unsigned long kGetMsrIndexList = _IOWR(KVMIO, 0x02, char[kMsrListHeaderBytes]);
constexpr unsigned long kGetMsrFeatureIndexList = _IOWR(KVMIO, 0x0a, char[kMsrListHeaderBytes]);
constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, char[kMsrsHeaderBytes]);
constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, char[kMsrsHeaderBytes]);
constexpr unsigned long kGetCpuid2 = _IOWR(KVMIO, 0x91, char[kCpuid2HeaderBytes]);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, char[kCpuid2HeaderBytes]);
constexpr unsigned long kGetXsave = _IOR(KVMIO, 0xa4, char[kXsaveBytes]);
constexpr unsigned long kSetXsave = _IOW(KVMIO, 0xa5, char[kXsaveBytes]);
static_assert(kGetSupportedCpuid == 0xc008ae05UL && kGetMsrs == 0xc008ae88UL && kGetXsave == 0x9000aea4UL,
              "KVM request numbers must match the C ABI");
constexpr uint32_t kMaxCpuidEntries = 256;
constexpr uint32_t kMaxMsrListEntries = 4096;

const StructIoctl kStructIoctls[] = {
    // system
    {"KVM_GET_SUPPORTED_CPUID", kGetSupportedCpuid, sizeof(kvm_cpuid_entry2), StructShape::kCpuid2},
    {"KVM_GET_MSR_INDEX_LIST", kGetMsrIndexList, sizeof(uint32_t), StructShape::kMsrList},
    {"KVM_GET_MSR_FEATURE_INDEX_LIST", kGetMsrFeatureIndexList, sizeof(uint32_t), StructShape::kMsrList},
    // vm
    {"KVM_SET_IDENTITY_MAP_ADDR", KVM_SET_IDENTITY_MAP_ADDR, sizeof(uint64_t), StructShape::kFixed},
    {"KVM_IRQ_LINE", KVM_IRQ_LINE, sizeof(kvm_irq_level), StructShape::kFixed},
    {"KVM_IRQ_LINE_STATUS", KVM_IRQ_LINE_STATUS, sizeof(kvm_irq_level), StructShape::kFixed},
    {"KVM_IRQFD", KVM_IRQFD, sizeof(kvm_irqfd), StructShape::kFixed},
    {"KVM_IOEVENTFD", KVM_IOEVENTFD, sizeof(kvm_ioeventfd), StructShape::kFixed},
    {"KVM_GET_CLOCK", KVM_GET_CLOCK, sizeof(kvm_clock_data), StructShape::kFixed},
    {"KVM_SET_CLOCK", KVM_SET_CLOCK, sizeof(kvm_clock_data), StructShape::kFixed},
    {"KVM_CREATE_PIT2", KVM_CREATE_PIT2, sizeof(kvm_pit_config), StructShape::kFixed},
    {"KVM_GET_PIT2", KVM_GET_PIT2, sizeof(kvm_pit_state2), StructShape::kFixed},
    {"KVM_SET_PIT2", KVM_SET_PIT2, sizeof(kvm_pit_state2), StructShape::kFixed},
    {"KVM_GET_IRQCHIP", KVM_GET_IRQCHIP, sizeof(kvm_irqchip), StructShape::kFixed},
    {"KVM_SET_IRQCHIP", KVM_SET_IRQCHIP, sizeof(kvm_irqchip), StructShape::kFixed},
    {"KVM_SIGNAL_MSI", KVM_SIGNAL_MSI, sizeof(kvm_msi), StructShape::kFixed},
    {"KVM_ENABLE_CAP", KVM_ENABLE_CAP, sizeof(kvm_enable_cap), StructShape::kFixed},
    // vcpu
    {"KVM_GET_REGS", KVM_GET_REGS, sizeof(kvm_regs), StructShape::kFixed},
    {"KVM_SET_REGS", KVM_SET_REGS, sizeof(kvm_regs), StructShape::kFixed},
    {"KVM_GET_SREGS", KVM_GET_SREGS, sizeof(kvm_sregs), StructShape::kFixed},
    {"KVM_SET_SREGS", KVM_SET_SREGS, sizeof(kvm_sregs), StructShape::kFixed},
    {"KVM_GET_FPU", KVM_GET_FPU, sizeof(kvm_fpu), StructShape::kFixed},
    {"KVM_SET_FPU", KVM_SET_FPU, sizeof(kvm_fpu), StructShape::kFixed},
    {"KVM_GET_MSRS", kGetMsrs, sizeof(kvm_msr_entry), StructShape::kMsrs},
    {"KVM_SET_MSRS", kSetMsrs, sizeof(kvm_msr_entry), StructShape::kMsrs},
    {"KVM_GET_CPUID2", kGetCpuid2, sizeof(kvm_cpuid_entry2), StructShape::kCpuid2},
    {"KVM_SET_CPUID2", kSetCpuid2, sizeof(kvm_cpuid_entry2), StructShape::kCpuid2},
    {"KVM_GET_LAPIC", KVM_GET_LAPIC, sizeof(kvm_lapic_state), StructShape::kFixed},
    {"KVM_SET_LAPIC", KVM_SET_LAPIC, sizeof(kvm_lapic_state), StructShape::kFixed},
    {"KVM_GET_MP_STATE", KVM_GET_MP_STATE, sizeof(kvm_mp_state), StructShape::kFixed},
    {"KVM_SET_MP_STATE", KVM_SET_MP_STATE, sizeof(kvm_mp_state), StructShape::kFixed},
    {"KVM_GET_VCPU_EVENTS", KVM_GET_VCPU_EVENTS, sizeof(kvm_vcpu_events), StructShape::kFixed},
    {"KVM_SET_VCPU_EVENTS", KVM_SET_VCPU_EVENTS, sizeof(kvm_vcpu_events), StructShape::kFixed},
    {"KVM_GET_XSAVE", kGetXsave, kXsaveBytes, StructShape::kFixed},
    {"KVM_SET_XSAVE", kSetXsave, kXsaveBytes, StructShape::kFixed},
    {"KVM_GET_XCRS", KVM_GET_XCRS, sizeof(kvm_xcrs), StructShape::kFixed},
    {"KVM_SET_XCRS", KVM_SET_XCRS, sizeof(kvm_xcrs), StructShape::kFixed},
    {"KVM_INTERRUPT", KVM_INTERRUPT, sizeof(kvm_interrupt), StructShape::kFixed},
    {"KVM_TRANSLATE", KVM_TRANSLATE, sizeof(kvm_translation), StructShape::kFixed},
    {"KVM_SET_GUEST_DEBUG", KVM_SET_GUEST_DEBUG, sizeof(kvm_guest_debug), StructShape::kFixed},
    {"KVM_KVMCLOCK_CTRL", KVM_KVMCLOCK_CTRL, 0, StructShape::kFixed},
    {"KVM_GET_DEBUGREGS", KVM_GET_DEBUGREGS, sizeof(kvm_debugregs), StructShape::kFixed},
    {"KVM_SET_DEBUGREGS", KVM_SET_DEBUGREGS, sizeof(kvm_debugregs), StructShape::kFixed},
};

const ValueIoctl kValueIoctls[] = {
    {"KVM_GET_API_VERSION", KVM_GET_API_VERSION},
    {"KVM_CHECK_EXTENSION", KVM_CHECK_EXTENSION},
    {"KVM_GET_VCPU_MMAP_SIZE", KVM_GET_VCPU_MMAP_SIZE},
    {"KVM_SET_TSS_ADDR", KVM_SET_TSS_ADDR},
    {"KVM_CREATE_IRQCHIP", KVM_CREATE_IRQCHIP},
    {"KVM_NMI", KVM_NMI},
};

const char* ShapeName(StructShape shape) {
  switch (shape) {
    case StructShape::kFixed:
      return "fixed";
    case StructShape::kMsrs:
      return "msrs";
    case StructShape::kCpuid2:
      return "cpuid2";
    case StructShape::kMsrList:
      return "msr-list";
  }
  return "fixed";
}

uint32_t ReadU32(const ByteSpan& bytes) {
  uint32_t value;
  std::memcpy(&value, bytes.data, sizeof(value));
  return value;
}

// Checks that `bytes` is exactly the size the ioctl will read or write, so the kernel never touches
// memory outside the JS buffer.
void CheckStructSize(Napi::Env env, const StructIoctl& entry, const ByteSpan& bytes) {
  size_t header = 0;
  uint32_t max_entries = 0;
  switch (entry.shape) {
    case StructShape::kFixed:
      if (entry.size == 0 && bytes.length == 0) return;
      if (bytes.length != entry.size) {
        std::string what = "must be exactly " + std::to_string(entry.size) + " bytes for " + entry.name;
        throw RangeArgError(env, "bytes", what.c_str());
      }
      return;
    case StructShape::kMsrs:
      header = kMsrsHeaderBytes;
      max_entries = kMaxMsrEntries;
      break;
    case StructShape::kCpuid2:
      header = kCpuid2HeaderBytes;
      max_entries = kMaxCpuidEntries;
      break;
    case StructShape::kMsrList:
      header = kMsrListHeaderBytes;
      max_entries = kMaxMsrListEntries;
      break;
  }
  if (bytes.length < header) throw RangeArgError(env, "bytes", "is shorter than the struct header");
  uint32_t count = ReadU32(bytes);
  if (count > max_entries) {
    std::string what = std::string("declares more than ") + std::to_string(max_entries) + " entries for " + entry.name;
    throw RangeArgError(env, "bytes", what.c_str());
  }
  if (bytes.length != header + static_cast<size_t>(count) * entry.size) {
    std::string what = std::string("length must be ") + std::to_string(header) + " + count × " + std::to_string(entry.size) +
                       " bytes for " + entry.name;
    throw RangeArgError(env, "bytes", what.c_str());
  }
}

}  // namespace

Napi::Value IoctlStruct(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint32_t id = ArgU32(info, 1, "id", static_cast<uint32_t>(std::size(kStructIoctls) - 1));
  const StructIoctl& entry = kStructIoctls[id];
  ByteSpan js_bytes = ArgBytes(info, 2, "bytes");
  // Validate and pass a private copy: JS memory (possibly shared with other threads) could otherwise
  // change between the size check (the entry count of a flexible array) and the kernel's own read.
  std::vector<uint64_t> storage((js_bytes.length + sizeof(uint64_t) - 1) / sizeof(uint64_t));
  ByteSpan bytes{reinterpret_cast<uint8_t*>(storage.data()), js_bytes.length};
  if (js_bytes.length > 0) std::memcpy(bytes.data, js_bytes.data, js_bytes.length);
  CheckStructSize(env, entry, bytes);
  int result = entry.size == 0 ? ioctl(fd, entry.request, 0) : ioctl(fd, entry.request, bytes.data);
  if (result < 0) throw ErrnoError(env, entry.name, errno);
  if (js_bytes.length > 0) std::memcpy(js_bytes.data, bytes.data, js_bytes.length);  // GET-style results
  return Napi::Number::New(env, result);
}

Napi::Value IoctlValue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint32_t id = ArgU32(info, 1, "id", static_cast<uint32_t>(std::size(kValueIoctls) - 1));
  uint64_t arg = ArgU64(info, 2, "arg");
  const ValueIoctl& entry = kValueIoctls[id];
  int result = ioctl(fd, entry.request, static_cast<unsigned long>(arg));
  if (result < 0) throw ErrnoError(env, entry.name, errno);
  return Napi::Number::New(env, result);
}

Napi::Object DescribeIoctls(Napi::Env env) {
  Napi::Object structs = Napi::Object::New(env);
  for (size_t i = 0; i < std::size(kStructIoctls); ++i) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("id", Napi::Number::New(env, static_cast<double>(i)));
    entry.Set("size", Napi::Number::New(env, static_cast<double>(kStructIoctls[i].size)));
    entry.Set("shape", Napi::String::New(env, ShapeName(kStructIoctls[i].shape)));
    structs.Set(kStructIoctls[i].name, entry);
  }
  Napi::Object values = Napi::Object::New(env);
  for (size_t i = 0; i < std::size(kValueIoctls); ++i) {
    values.Set(kValueIoctls[i].name, Napi::Number::New(env, static_cast<double>(i)));
  }
  Napi::Object table = Napi::Object::New(env);
  table.Set("structs", structs);
  table.Set("values", values);
  return table;
}

}  // namespace vmm
