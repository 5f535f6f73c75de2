// Plain system calls the VMM needs besides KVM ioctls: opening /dev/kvm, eventfds, memfds, ftruncate.
#pragma once

#include <napi.h>

namespace vmm {

// openKvm(path?: string): FdHandle (O_RDWR | O_CLOEXEC)
Napi::Value OpenKvm(const Napi::CallbackInfo& info);
// createEventfd(initialValue: number, nonblocking: boolean, semaphore: boolean): FdHandle
Napi::Value CreateEventfd(const Napi::CallbackInfo& info);
// eventfdRead(fd): bigint, or null when the counter is zero on a non-blocking eventfd
Napi::Value EventfdRead(const Napi::CallbackInfo& info);
// eventfdWrite(fd, value: bigint | number): void
Napi::Value EventfdWrite(const Napi::CallbackInfo& info);
// memfdCreate(name: string): FdHandle (MFD_CLOEXEC; an anonymous file of size 0)
Napi::Value MemfdCreate(const Napi::CallbackInfo& info);
// ftruncate(fd, size: number | bigint): void
Napi::Value Ftruncate(const Napi::CallbackInfo& info);

}  // namespace vmm
