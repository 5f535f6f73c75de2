// TAP devices and vectored I/O on descriptors, for virtio-net back ends: openTap creates (or attaches
// to) a TAP interface; readvFd/writevFd move one frame between the descriptor and a list of byte
// views (guest memory, no copies). Non-blocking: EAGAIN comes back as null.
#pragma once

#include <napi.h>

namespace vmm {

// openTap(name?: string): { handle: FdHandle, name: string }
Napi::Value OpenTap(const Napi::CallbackInfo& info);
// readvFd(fd, buffers: Uint8Array[]): number | null
Napi::Value ReadvFd(const Napi::CallbackInfo& info);
// writevFd(fd, buffers: Uint8Array[]): number | null
Napi::Value WritevFd(const Napi::CallbackInfo& info);

}  // namespace vmm
