#include "mapped_region.h"

#include <sys/mman.h>

#include <map>

namespace vmm {

namespace {

std::mutex published_mutex;
std::map<uintptr_t, std::weak_ptr<MappedRegion>>& Published() {
  static auto* regions = new std::map<uintptr_t, std::weak_ptr<MappedRegion>>();  // lives until process exit
  return *regions;
}

}  // namespace

bool MappedRegion::mapped() {
  std::lock_guard<std::mutex> lock(mutex_);
  return mapped_;
}

void MappedRegion::Unmap() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!mapped_) return;
  if (published_) {
    std::lock_guard<std::mutex> registry_lock(published_mutex);
    Published().erase(reinterpret_cast<uintptr_t>(base_));
  }
  munmap(base_, size_);
  mapped_ = false;
}

void MappedRegion::Publish(const std::shared_ptr<MappedRegion>& region) {
  std::lock_guard<std::mutex> lock(region->mutex_);
  std::lock_guard<std::mutex> registry_lock(published_mutex);
  Published()[reinterpret_cast<uintptr_t>(region->base_)] = region;
  region->published_ = true;
}

std::shared_ptr<MappedRegion> FindRegion(uintptr_t address, size_t length) {
  std::lock_guard<std::mutex> lock(published_mutex);
  auto& regions = Published();
  auto it = regions.upper_bound(address);
  if (it == regions.begin()) return nullptr;
  --it;
  std::shared_ptr<MappedRegion> region = it->second.lock();
  if (!region) return nullptr;
  uintptr_t start = reinterpret_cast<uintptr_t>(region->base());
  if (address < start) return nullptr;
  uintptr_t offset = address - start;
  if (offset > region->size() || length > region->size() - offset) return nullptr;
  return region;
}

Napi::ArrayBuffer ViewOf(Napi::Env env, const std::shared_ptr<MappedRegion>& region, size_t offset, size_t length) {
  auto keep_alive = std::make_unique<std::shared_ptr<MappedRegion>>(region);
  Napi::ArrayBuffer view = Napi::ArrayBuffer::New(
      env, region->base() + offset, length,
      [](Napi::Env, void*, std::shared_ptr<MappedRegion>* hint) { delete hint; }, keep_alive.get());
  keep_alive.release();  // the view's finalizer owns it now; had New() thrown, it would not have
  return view;
}

}  // namespace vmm
