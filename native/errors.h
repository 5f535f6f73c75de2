// JS errors for failed system calls: every one carries the call's name, errno and code string.
#pragma once

#include <napi.h>

namespace vmm {

// Builds an Error whose message names `op` (an ioctl or syscall name) and errno `err`.
// Properties: syscall (op), errno (number), code ("EACCES", ...).
Napi::Error ErrnoError(Napi::Env env, const char* op, int err);

// A TypeError for an argument that failed validation; message names the argument.
Napi::TypeError ArgError(Napi::Env env, const char* name, const char* what);

// A RangeError for an argument with the right type but an unacceptable value.
Napi::RangeError RangeArgError(Napi::Env env, const char* name, const char* what);

}  // namespace vmm
