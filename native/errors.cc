#include "errors.h"

#include <cstring>
#include <string>

namespace vmm {

namespace {

// The errno's symbolic name, as strerrorname_np() gives it; that call is not used because it needs
// glibc 2.32 and the prebuilt addon loads on older ones (README, Building).
const char* ErrnoName(int err) {
  switch (err) {
#define X(name) \
  case name:    \
    return #name;
    X(EPERM)
    X(ENOENT)
    X(ESRCH)
    X(EINTR)
    X(EIO)
    X(ENXIO)
    X(E2BIG)
    X(ENOEXEC)
    X(EBADF)
    X(ECHILD)
    X(EAGAIN)
    X(ENOMEM)
    X(EACCES)
    X(EFAULT)
    X(ENOTBLK)
    X(EBUSY)
    X(EEXIST)
    X(EXDEV)
    X(ENODEV)
    X(ENOTDIR)
    X(EISDIR)
    X(EINVAL)
    X(ENFILE)
    X(EMFILE)
    X(ENOTTY)
    X(ETXTBSY)
    X(EFBIG)
    X(ENOSPC)
    X(ESPIPE)
    X(EROFS)
    X(EMLINK)
    X(EPIPE)
    X(EDOM)
    X(ERANGE)
    X(EDEADLK)
    X(ENAMETOOLONG)
    X(ENOLCK)
    X(ENOSYS)
    X(ENOTEMPTY)
    X(ELOOP)
    X(ENOMSG)
    X(EIDRM)
    X(ECHRNG)
    X(EL2NSYNC)
    X(EL3HLT)
    X(EL3RST)
    X(ELNRNG)
    X(EUNATCH)
    X(ENOCSI)
    X(EL2HLT)
    X(EBADE)
    X(EBADR)
    X(EXFULL)
    X(ENOANO)
    X(EBADRQC)
    X(EBADSLT)
    X(EBFONT)
    X(ENOSTR)
    X(ENODATA)
    X(ETIME)
    X(ENOSR)
    X(ENONET)
    X(ENOPKG)
    X(EREMOTE)
    X(ENOLINK)
    X(EADV)
    X(ESRMNT)
    X(ECOMM)
    X(EPROTO)
    X(EMULTIHOP)
    X(EDOTDOT)
    X(EBADMSG)
    X(EOVERFLOW)
    X(ENOTUNIQ)
    X(EBADFD)
    X(EREMCHG)
    X(ELIBACC)
    X(ELIBBAD)
    X(ELIBSCN)
    X(ELIBMAX)
    X(ELIBEXEC)
    X(EILSEQ)
    X(ERESTART)
    X(ESTRPIPE)
    X(EUSERS)
    X(ENOTSOCK)
    X(EDESTADDRREQ)
    X(EMSGSIZE)
    X(EPROTOTYPE)
    X(ENOPROTOOPT)
    X(EPROTONOSUPPORT)
    X(ESOCKTNOSUPPORT)
    X(EOPNOTSUPP)
    X(EPFNOSUPPORT)
    X(EAFNOSUPPORT)
    X(EADDRINUSE)
    X(EADDRNOTAVAIL)
    X(ENETDOWN)
    X(ENETUNREACH)
    X(ENETRESET)
    X(ECONNABORTED)
    X(ECONNRESET)
    X(ENOBUFS)
    X(EISCONN)
    X(ENOTCONN)
    X(ESHUTDOWN)
    X(ETOOMANYREFS)
    X(ETIMEDOUT)
    X(ECONNREFUSED)
    X(EHOSTDOWN)
    X(EHOSTUNREACH)
    X(EALREADY)
    X(EINPROGRESS)
    X(ESTALE)
    X(EUCLEAN)
    X(ENOTNAM)
    X(ENAVAIL)
    X(EISNAM)
    X(EREMOTEIO)
    X(EDQUOT)
    X(ENOMEDIUM)
    X(EMEDIUMTYPE)
    X(ECANCELED)
    X(ENOKEY)
    X(EKEYEXPIRED)
    X(EKEYREVOKED)
    X(EKEYREJECTED)
    X(EOWNERDEAD)
    X(ENOTRECOVERABLE)
    X(ERFKILL)
    X(EHWPOISON)
#undef X
    default:
      return nullptr;
  }
}

std::string ErrnoCode(int err) {
  const char* name = ErrnoName(err);
  if (name != nullptr) return name;
  return "E" + std::to_string(err);
}

}  // namespace

Napi::Error ErrnoError(Napi::Env env, const char* op, int err) {
  std::string code = ErrnoCode(err);
  std::string message = std::string(op) + " failed: " + code + " (" + std::strerror(err) + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("syscall", Napi::String::New(env, op));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("code", Napi::String::New(env, code));
  return error;
}

Napi::TypeError ArgError(Napi::Env env, const char* name, const char* what) {
  Napi::TypeError error = Napi::TypeError::New(env, std::string("argument '") + name + "' " + what);
  error.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  return error;
}

Napi::RangeError RangeArgError(Napi::Env env, const char* name, const char* what) {
  Napi::RangeError error = Napi::RangeError::New(env, std::string("argument '") + name + "' " + what);
  error.Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
  return error;
}

}  // namespace vmm
