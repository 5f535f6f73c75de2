#include "mapping_io.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "args.h"
#include "errors.h"
#include "guest_mapping.h"

namespace vmm {

namespace {

constexpr uint64_t kMaxFileOffset = 0x7fffffffffffffffULL;
// Linux moves at most 0x7ffff000 bytes per call; ask for whole 1 GiB steps and let the loop continue.
constexpr uint64_t kMaxStep = 1ULL << 30;

enum class Direction { kWrite, kRead };

Napi::Value Transfer(const Napi::CallbackInfo& info, Direction direction) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  std::shared_ptr<MappedRegion> region = GuestMapping::RegionArg(info, 1, "mapping");
  uint64_t offset = ArgU64(info, 2, "offset");
  uint64_t length = ArgU64(info, 3, "length");
  uint64_t file_offset = ArgU64(info, 4, "fileOffset");
  if (offset > region->size() || length > region->size() - offset) throw RangeArgError(env, "offset", "and length must lie inside the mapping");
  if (file_offset > kMaxFileOffset || length > kMaxFileOffset - file_offset) throw RangeArgError(env, "fileOffset", "plus length must stay below 2^63");
  const char* op = direction == Direction::kWrite ? "pwrite" : "pread";
  uint8_t* memory = region->base() + offset;
  uint64_t done = 0;
  while (done < length) {
    size_t step = static_cast<size_t>(std::min(length - done, kMaxStep));
    off_t at = static_cast<off_t>(file_offset + done);
    ssize_t moved = direction == Direction::kWrite ? pwrite(fd, memory + done, step, at) : pread(fd, memory + done, step, at);
    if (moved < 0) {
      if (errno == EINTR) continue;
      throw ErrnoError(env, op, errno);
    }
    if (moved == 0) {
      if (direction == Direction::kRead) break;  // end of file
      throw ErrnoError(env, "pwrite (no progress)", EIO);
    }
    done += static_cast<uint64_t>(moved);
  }
  return Napi::Number::New(env, static_cast<double>(done));
}

}  // namespace

Napi::Value PwriteFromMapping(const Napi::CallbackInfo& info) { return Transfer(info, Direction::kWrite); }

Napi::Value PreadIntoMapping(const Napi::CallbackInfo& info) { return Transfer(info, Direction::kRead); }

}  // namespace vmm
