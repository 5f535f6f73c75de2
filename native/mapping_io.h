// File I/O straight between guest memory (a GuestMapping) and a descriptor, with no JS copy: what a
// snapshot writes and reads back, or a disk back end moves. Blocking: call it from a thread that may
// block (a worker) when the transfer is large.
#pragma once

#include <napi.h>

namespace vmm {

// pwriteFromMapping(fd, mapping, offset, length, fileOffset): number of bytes written (always length;
// short writes are continued, a write that makes no progress is EIO)
Napi::Value PwriteFromMapping(const Napi::CallbackInfo& info);
// preadIntoMapping(fd, mapping, offset, length, fileOffset): number of bytes read (less than length
// only when the file ends first; short reads are continued)
Napi::Value PreadIntoMapping(const Napi::CallbackInfo& info);

}  // namespace vmm
