// GuestMapping: the owner of an mmap that backs guest RAM (anonymous, or of a file). JS sees it through external
// ArrayBuffers (no copies). unmap() detaches the views this thread made, then releases the memory.
#pragma once

#include <napi.h>

#include "addon_data.h"

#include <memory>
#include <vector>

#include "mapped_region.h"

namespace vmm {

class GuestMapping : public Napi::ObjectWrap<GuestMapping> {
 public:
  static constexpr const char* kClassName = "GuestMapping";
  static constexpr const napi_type_tag& kTag = kGuestMappingTag;
  static Napi::Function Define(Napi::Env env);
  // mapGuestMemory(size: number | bigint, options?: { hugepages?: boolean }): GuestMapping
  static Napi::Value Map(const Napi::CallbackInfo& info);
  // mapFile(fd, size, options?: { private?: boolean, offset?: number | bigint }): GuestMapping over a
  // regular file or memfd (MAP_PRIVATE: copy-on-write, the default; MAP_SHARED: writes reach the file).
  static Napi::Value MapFile(const Napi::CallbackInfo& info);
  // viewGuestMemory(address: bigint, length: number): ArrayBuffer over a live mapping, for other threads.
  static Napi::Value ViewPublished(const Napi::CallbackInfo& info);
  // The live region of the GuestMapping passed as argument `index` (TypeError / EBADF otherwise).
  static std::shared_ptr<MappedRegion> RegionArg(const Napi::CallbackInfo& info, size_t index, const char* name);

  explicit GuestMapping(const Napi::CallbackInfo& info);

 private:
  Napi::Value GetAddress(const Napi::CallbackInfo& info);
  Napi::Value GetSize(const Napi::CallbackInfo& info);
  Napi::Value GetUnmapped(const Napi::CallbackInfo& info);
  Napi::Value CreateView(const Napi::CallbackInfo& info);
  Napi::Value Madvise(const Napi::CallbackInfo& info);
  Napi::Value Unmap(const Napi::CallbackInfo& info);
  MappedRegion& LiveRegion(Napi::Env env, const char* op);
  static Napi::Value Adopt(Napi::Env env, const std::shared_ptr<MappedRegion>& region);

  std::shared_ptr<MappedRegion> region_;
  std::vector<Napi::Reference<Napi::ArrayBuffer>> views_;
};

}  // namespace vmm
