#include "guest_mapping.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "addon_data.h"
#include "args.h"
#include "errors.h"

namespace vmm {

namespace {

// A single ArrayBuffer view is capped at 4 GiB; larger guest RAM is split into regions by the caller.
constexpr uint64_t kMaxViewBytes = 1ULL << 32;
constexpr uint64_t kMaxMappingBytes = 1ULL << 46;

// A mapping waiting to be adopted by the GuestMapping constructor.
struct PendingMapping {
  std::shared_ptr<MappedRegion> region;
};

uint64_t PageSize() { return static_cast<uint64_t>(sysconf(_SC_PAGESIZE)); }

bool AllowedAdvice(uint32_t advice) {
  switch (advice) {
    case MADV_NORMAL:
    case MADV_WILLNEED:
    case MADV_DONTNEED:
    case MADV_MERGEABLE:
    case MADV_UNMERGEABLE:
    case MADV_HUGEPAGE:
    case MADV_NOHUGEPAGE:
    case MADV_DONTDUMP:
    case MADV_DODUMP:
      return true;
    default:
      return false;
  }
}

void CheckRange(Napi::Env env, uint64_t offset, uint64_t length, uint64_t size) {
  if (offset > size || length > size - offset) throw RangeArgError(env, "offset", "and length must lie inside the mapping");
}

void CheckMappingSize(Napi::Env env, uint64_t size) {
  if (size == 0 || size % PageSize() != 0) throw RangeArgError(env, "size", "must be a non-zero multiple of the page size");
  if (size > kMaxMappingBytes) throw RangeArgError(env, "size", "must not exceed 64 TiB");
}

}  // namespace

Napi::Function GuestMapping::Define(Napi::Env env) {
  return DefineClass(env, "GuestMapping",
                     {
                         CheckedAccessor<GuestMapping, &GuestMapping::GetAddress>("address"),
                         CheckedAccessor<GuestMapping, &GuestMapping::GetSize>("size"),
                         CheckedAccessor<GuestMapping, &GuestMapping::GetUnmapped>("unmapped"),
                         CheckedMethod<GuestMapping, &GuestMapping::CreateView>("createView"),
                         CheckedMethod<GuestMapping, &GuestMapping::Madvise>("madvise"),
                         CheckedMethod<GuestMapping, &GuestMapping::Unmap>("unmap"),
                     });
}

Napi::Value GuestMapping::Map(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t size = ArgU64(info, 0, "size");
  bool hugepages = OptionBool(ArgOptions(info, 1), "hugepages", "options.hugepages", false);
  CheckMappingSize(env, size);
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) throw ErrnoError(env, "mmap", errno);
  auto region = std::make_shared<MappedRegion>(static_cast<uint8_t*>(base), static_cast<size_t>(size));
  if (hugepages && madvise(base, size, MADV_HUGEPAGE) != 0) throw ErrnoError(env, "madvise(MADV_HUGEPAGE)", errno);
  return Adopt(env, region);
}

Napi::Value GuestMapping::MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint64_t size = ArgU64(info, 1, "size");
  Napi::Object options = ArgOptions(info, 2);
  bool is_private = OptionBool(options, "private", "options.private", true);
  uint64_t offset = OptionU64(options, "offset", "options.offset", 0);
  CheckMappingSize(env, size);
  if (offset % PageSize() != 0) throw RangeArgError(env, "options.offset", "must be a multiple of the page size");
  struct stat file = {};
  if (fstat(fd, &file) != 0) throw ErrnoError(env, "fstat", errno);
  if (!S_ISREG(file.st_mode)) throw ErrnoError(env, "mapFile (not a regular file or memfd)", ENODEV);
  // A page past the end of the file would raise SIGBUS when touched, by JS or by KVM: refuse it here.
  // (Truncating the file while it is mapped is the caller's error: mapFile's TSDoc in lib/native/binding.ts.)
  uint64_t file_size = static_cast<uint64_t>(file.st_size);
  if (offset > file_size || size > file_size - offset) {
    std::string what = "and options.offset must lie inside the file (" + std::to_string(file_size) + " bytes)";
    throw RangeArgError(env, "size", what.c_str());
  }
  int flags = (is_private ? MAP_PRIVATE : MAP_SHARED) | MAP_NORESERVE;
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, flags, fd, static_cast<off_t>(offset));
  if (base == MAP_FAILED) throw ErrnoError(env, is_private ? "mmap(MAP_PRIVATE)" : "mmap(MAP_SHARED)", errno);
  return Adopt(env, std::make_shared<MappedRegion>(static_cast<uint8_t*>(base), static_cast<size_t>(size)));
}

Napi::Value GuestMapping::Adopt(Napi::Env env, const std::shared_ptr<MappedRegion>& region) {
  MappedRegion::Publish(region);
  // Should the object not be created, `pending` goes away with the last reference and the memory is unmapped.
  PendingMapping pending{region};
  return NewAdopting(GetAddonData(env).guestMapping, &pending);
}

std::shared_ptr<MappedRegion> GuestMapping::RegionArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Env env = info.Env();
  if (index >= info.Length()) throw ArgError(env, name, "is missing");
  Napi::Value value = info[index];
  if (!value.IsObject() || !value.As<Napi::Object>().CheckTypeTag(&kGuestMappingTag)) throw ArgError(env, name, "must be a GuestMapping");
  GuestMapping* mapping = Unwrap(value.As<Napi::Object>());
  if (!mapping->region_ || !mapping->region_->mapped()) throw ErrnoError(env, (std::string(name) + " (mapping is unmapped)").c_str(), EBADF);
  return mapping->region_;
}

Napi::Value GuestMapping::ViewPublished(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t address = ArgU64(info, 0, "address");
  uint64_t length = ArgU64(info, 1, "length");
  if (length == 0 || length > kMaxViewBytes) throw RangeArgError(env, "length", "must be between 1 byte and 4 GiB");
  std::shared_ptr<MappedRegion> region = FindRegion(static_cast<uintptr_t>(address), static_cast<size_t>(length));
  if (!region) throw RangeArgError(env, "address", "and length must lie inside a live guest-memory mapping");
  size_t offset = static_cast<size_t>(address - reinterpret_cast<uintptr_t>(region->base()));
  return ViewOf(env, region, offset, static_cast<size_t>(length));
}

GuestMapping::GuestMapping(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GuestMapping>(info) {
  TagObject(info, kGuestMappingTag);
  region_ = TakeAdoption<PendingMapping>(info, "GuestMapping")->region;
}

MappedRegion& GuestMapping::LiveRegion(Napi::Env env, const char* op) {
  if (!region_ || !region_->mapped()) throw ErrnoError(env, (std::string(op) + " (mapping is unmapped)").c_str(), EBADF);
  return *region_;
}

Napi::Value GuestMapping::GetAddress(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(reinterpret_cast<uintptr_t>(region_->base())));
}

Napi::Value GuestMapping::GetSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(region_->size()));
}

Napi::Value GuestMapping::GetUnmapped(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !region_->mapped());
}

Napi::Value GuestMapping::CreateView(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MappedRegion& region = LiveRegion(env, "createView");
  uint64_t offset = ArgU64(info, 0, "offset");
  uint64_t length = ArgU64(info, 1, "length");
  if (length == 0 || length > kMaxViewBytes) throw RangeArgError(env, "length", "must be between 1 byte and 4 GiB");
  CheckRange(env, offset, length, region.size());
  views_.erase(std::remove_if(views_.begin(), views_.end(), [](Napi::Reference<Napi::ArrayBuffer>& ref) { return ref.Value().IsEmpty(); }),
               views_.end());
  Napi::ArrayBuffer view = ViewOf(env, region_, static_cast<size_t>(offset), static_cast<size_t>(length));
  views_.push_back(Napi::Reference<Napi::ArrayBuffer>::New(view, 0));
  return view;
}

Napi::Value GuestMapping::Madvise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MappedRegion& region = LiveRegion(env, "madvise");
  uint64_t offset = ArgU64(info, 0, "offset");
  uint64_t length = ArgU64(info, 1, "length");
  uint32_t advice = ArgU32(info, 2, "advice");
  if (offset % PageSize() != 0 || length % PageSize() != 0) throw RangeArgError(env, "offset", "and length must be page aligned");
  CheckRange(env, offset, length, region.size());
  if (!AllowedAdvice(advice)) throw RangeArgError(env, "advice", "is not one of the supported MADV_* values");
  if (madvise(region.base() + offset, static_cast<size_t>(length), static_cast<int>(advice)) != 0) throw ErrnoError(env, "madvise", errno);
  return env.Undefined();
}

Napi::Value GuestMapping::Unmap(const Napi::CallbackInfo& info) {
  if (region_->mapped() && region_->slot_users() > 0) {
    throw ErrnoError(info.Env(), "unmap (memory slots of a live VM still use this memory: delete them or close the VM first)", EBUSY);
  }
  for (auto& reference : views_) {
    Napi::ArrayBuffer view = reference.Value();
    if (!view.IsEmpty() && !view.IsDetached()) view.Detach();
  }
  views_.clear();
  region_->Unmap();
  return info.Env().Undefined();
}

}  // namespace vmm
