// MappedRegion: an mmap'd range shared by every ArrayBuffer viewing it. The memory is released by an
// explicit Unmap() or, failing that, when the owner and the last view have been garbage collected, so a
// view that outlives its owner never points at unmapped memory.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <atomic>
#include <memory>
#include <mutex>

namespace vmm {

class MappedRegion {
 public:
  MappedRegion(uint8_t* base, size_t size) : base_(base), size_(size) {}
  ~MappedRegion() { Unmap(); }
  MappedRegion(const MappedRegion&) = delete;
  MappedRegion& operator=(const MappedRegion&) = delete;

  uint8_t* base() const { return base_; }
  size_t size() const { return size_; }
  bool mapped();
  // munmap now (idempotent). Views on this thread must be detached by the caller first; views held by
  // other threads must already be gone (the TS layer stops vCPU workers before freeing guest memory).
  void Unmap();
  // Makes the region findable by FindRegion() (guest RAM that other threads view by address).
  static void Publish(const std::shared_ptr<MappedRegion>& region);
  // Memory slots of live VMs that point into the region: the owner's Unmap() is refused while any do.
  int slot_users() const { return slot_users_.load(); }

 private:
  friend class RegionSlotUse;
  std::atomic<int> slot_users_{0};
  std::mutex mutex_;
  uint8_t* base_;
  size_t size_;
  bool mapped_ = true;
  bool published_ = false;
};

// One VM memory slot's claim on a region: keeps it alive and makes an explicit unmap fail while KVM
// may still run guest code on it.
class RegionSlotUse {
 public:
  explicit RegionSlotUse(std::shared_ptr<MappedRegion> region) : region_(std::move(region)) { region_->slot_users_++; }
  ~RegionSlotUse() { region_->slot_users_--; }
  RegionSlotUse(const RegionSlotUse&) = delete;
  RegionSlotUse& operator=(const RegionSlotUse&) = delete;

 private:
  std::shared_ptr<MappedRegion> region_;
};

// The published region containing [address, address + length), or null.
std::shared_ptr<MappedRegion> FindRegion(uintptr_t address, size_t length);

// An external ArrayBuffer over part of the region; it keeps the region alive until it is collected.
Napi::ArrayBuffer ViewOf(Napi::Env env, const std::shared_ptr<MappedRegion>& region, size_t offset, size_t length);

}  // namespace vmm
