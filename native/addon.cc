// node-vmm native addon: a thin, validating wrapper of the /dev/kvm ioctls, mmap, eventfd, memfd and file I/O.
// No device, boot or run-loop logic lives here; the TypeScript layer does all of that.
#include <linux/kvm.h>
#include <napi.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>

#include "addon_data.h"
#include "fd_handle.h"
#include "fd_watcher.h"
#include "guest_mapping.h"
#include "ioctl_table.h"
#include "mapping_io.h"
#include "system_calls.h"
#include "tap.h"
#include "vcpu_handle.h"
#include "vcpu_kick.h"
#include "vm_handle.h"

namespace vmm {

namespace {

// Offsets into struct kvm_run that the TS exit decoder relies on; checked against its own table at load.
Napi::Object RunLayout(Napi::Env env) {
  Napi::Object layout = Napi::Object::New(env);
  auto set = [&](const char* name, size_t value) { layout.Set(name, Napi::Number::New(env, static_cast<double>(value))); };
  set("immediate_exit", offsetof(kvm_run, immediate_exit));
  set("exit_reason", offsetof(kvm_run, exit_reason));
  set("if_flag", offsetof(kvm_run, if_flag));
  set("cr8", offsetof(kvm_run, cr8));
  set("apic_base", offsetof(kvm_run, apic_base));
  set("io.direction", offsetof(kvm_run, io.direction));
  set("io.size", offsetof(kvm_run, io.size));
  set("io.port", offsetof(kvm_run, io.port));
  set("io.count", offsetof(kvm_run, io.count));
  set("io.data_offset", offsetof(kvm_run, io.data_offset));
  set("mmio.phys_addr", offsetof(kvm_run, mmio.phys_addr));
  set("mmio.data", offsetof(kvm_run, mmio.data));
  set("mmio.len", offsetof(kvm_run, mmio.len));
  set("mmio.is_write", offsetof(kvm_run, mmio.is_write));
  set("internal.suberror", offsetof(kvm_run, internal.suberror));
  set("internal.ndata", offsetof(kvm_run, internal.ndata));
  set("internal.data", offsetof(kvm_run, internal.data));
  set("fail_entry.hardware_entry_failure_reason", offsetof(kvm_run, fail_entry.hardware_entry_failure_reason));
  set("fail_entry.cpu", offsetof(kvm_run, fail_entry.cpu));
  set("system_event.type", offsetof(kvm_run, system_event.type));
  set("system_event.ndata", offsetof(kvm_run, system_event.ndata));
  set("system_event.data", offsetof(kvm_run, system_event.data));
  set("ex.exception", offsetof(kvm_run, ex.exception));
  set("ex.error_code", offsetof(kvm_run, ex.error_code));
  set("hw.hardware_exit_reason", offsetof(kvm_run, hw.hardware_exit_reason));
  set("size", sizeof(kvm_run));
  return layout;
}

Napi::Object Constants(Napi::Env env) {
  Napi::Object constants = Napi::Object::New(env);
  constants.Set("pageSize", Napi::Number::New(env, static_cast<double>(sysconf(_SC_PAGESIZE))));
  constants.Set("kickSignal", Napi::Number::New(env, KickSignalNumber()));
  Napi::Object madvise = Napi::Object::New(env);
  madvise.Set("normal", Napi::Number::New(env, MADV_NORMAL));
  madvise.Set("willneed", Napi::Number::New(env, MADV_WILLNEED));
  madvise.Set("dontneed", Napi::Number::New(env, MADV_DONTNEED));
  madvise.Set("mergeable", Napi::Number::New(env, MADV_MERGEABLE));
  madvise.Set("unmergeable", Napi::Number::New(env, MADV_UNMERGEABLE));
  madvise.Set("hugepage", Napi::Number::New(env, MADV_HUGEPAGE));
  madvise.Set("nohugepage", Napi::Number::New(env, MADV_NOHUGEPAGE));
  madvise.Set("dontdump", Napi::Number::New(env, MADV_DONTDUMP));
  madvise.Set("dodump", Napi::Number::New(env, MADV_DODUMP));
  constants.Set("madvise", madvise);
  constants.Set("runLayout", RunLayout(env));
  return constants;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData(data);
  Napi::Function fd_handle = FdHandle::Define(env);
  Napi::Function vm_handle = VmHandle::Define(env);
  Napi::Function vcpu_handle = VcpuHandle::Define(env);
  Napi::Function guest_mapping = GuestMapping::Define(env);
  Napi::Function fd_watcher = FdWatcher::Define(env);
  data->fdHandle = Napi::Persistent(fd_handle);
  data->vmHandle = Napi::Persistent(vm_handle);
  data->vcpuHandle = Napi::Persistent(vcpu_handle);
  data->guestMapping = Napi::Persistent(guest_mapping);
  data->fdWatcher = Napi::Persistent(fd_watcher);

  exports.Set("FdHandle", fd_handle);
  exports.Set("VmHandle", vm_handle);
  exports.Set("VcpuHandle", vcpu_handle);
  exports.Set("GuestMapping", guest_mapping);
  exports.Set("FdWatcher", fd_watcher);
  exports.Set("openKvm", Napi::Function::New<OpenKvm>(env, "openKvm"));
  exports.Set("createVm", Napi::Function::New<VmHandle::Create>(env, "createVm"));
  exports.Set("createVcpu", Napi::Function::New<VcpuHandle::Create>(env, "createVcpu"));
  exports.Set("kickVcpu", Napi::Function::New<VcpuHandle::KickByToken>(env, "kickVcpu"));
  exports.Set("mapGuestMemory", Napi::Function::New<GuestMapping::Map>(env, "mapGuestMemory"));
  exports.Set("mapFile", Napi::Function::New<GuestMapping::MapFile>(env, "mapFile"));
  exports.Set("viewGuestMemory", Napi::Function::New<GuestMapping::ViewPublished>(env, "viewGuestMemory"));
  exports.Set("ioctlStruct", Napi::Function::New<IoctlStruct>(env, "ioctlStruct"));
  exports.Set("ioctlValue", Napi::Function::New<IoctlValue>(env, "ioctlValue"));
  exports.Set("createEventfd", Napi::Function::New<CreateEventfd>(env, "createEventfd"));
  exports.Set("eventfdRead", Napi::Function::New<EventfdRead>(env, "eventfdRead"));
  exports.Set("eventfdWrite", Napi::Function::New<EventfdWrite>(env, "eventfdWrite"));
  exports.Set("memfdCreate", Napi::Function::New<MemfdCreate>(env, "memfdCreate"));
  exports.Set("ftruncate", Napi::Function::New<Ftruncate>(env, "ftruncate"));
  exports.Set("pwriteFromMapping", Napi::Function::New<PwriteFromMapping>(env, "pwriteFromMapping"));
  exports.Set("preadIntoMapping", Napi::Function::New<PreadIntoMapping>(env, "preadIntoMapping"));
  exports.Set("watchFd", Napi::Function::New<FdWatcher::Watch>(env, "watchFd"));
  exports.Set("openTap", Napi::Function::New<OpenTap>(env, "openTap"));
  exports.Set("readvFd", Napi::Function::New<ReadvFd>(env, "readvFd"));
  exports.Set("writevFd", Napi::Function::New<WritevFd>(env, "writevFd"));
  exports.Set("ioctls", DescribeIoctls(env));
  exports.Set("constants", Constants(env));
  return exports;
}

}  // namespace vmm

static Napi::Object InitNodeVmm(Napi::Env env, Napi::Object exports) { return vmm::Init(env, exports); }

NODE_API_MODULE(node_vmm, InitNodeVmm)
