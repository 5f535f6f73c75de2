#!/usr/bin/env bash
# `npm run test:asan`: the addon built with AddressSanitizer and UndefinedBehaviorSanitizer
# (-fsanitize=address,undefined -fno-sanitize-recover=all) into build-asan/ (cmake-js; the normal build
# in build/ is left alone), then the unit and KVM tests (mocha, the same spec as npm test) run with it.
# Node itself is not instrumented, so the sanitizer runtimes are preloaded (LD_PRELOAD) and
# NODE_VMM_PREBUILD points node-gyp-build at build-asan/build/Release. Every process that reports to
# ASan or LSan (mocha and the CLI and node children it spawns) writes it to build-asan/reports/; the run
# fails on any report, on a test failure, or if the tests did not load the sanitizer build.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/build-asan
REPORTS=$OUT/reports

npx cmake-js build -O "$OUT/build" --CDNODE_VMM_SANITIZE=ON --CDCMAKE_BUILD_TYPE=Release >"$OUT.build.log" 2>&1 ||
  { tail -30 "$OUT.build.log" >&2; exit 1; }
ADDON=$OUT/build/Release/node_vmm.node
ASAN_RUNTIME=$(realpath "$(gcc -print-file-name=libasan.so)")
UBSAN_RUNTIME=$(realpath "$(gcc -print-file-name=libubsan.so)")

# Tools the tests run that are neither Node nor ours would inherit the preloaded runtimes; they are
# not instrumented, and what ASan says of them is not about our code (their leaks at exit; QEMU's
# coroutines switch stacks with swapcontext, which ASan warns of in every QEMU process; LSan's exit
# scan of curl crashed and hung it). They run without the preload through these wrappers, first on
# PATH. bash keeps the preload (the node processes a script starts need it) with leak detection off.
SHIMS=$OUT/bin
rm -rf "$SHIMS" "$REPORTS"
mkdir -p "$SHIMS" "$REPORTS"
shim() { # shim TOOL LINE: a wrapper that runs LINE, then the real TOOL
  local real
  real=$(command -v "$1" || true)
  [ -n "$real" ] || return 0
  printf '#!/bin/sh\n%s\nexec %s "$@"\n' "$2" "$real" >"$SHIMS/$1"
  chmod +x "$SHIMS/$1"
}
for tool in ip mkfs.ext4 debugfs e2fsck xz iasl cpio tar objdump objcopy udhcpd qemu-system-x86_64 curl mktemp sleep grep rm cat; do
  shim "$tool" 'unset LD_PRELOAD'
done
shim bash 'ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"; export ASAN_OPTIONS'

# halt_on_error, exitcode: the first error ends the process (failing its test); detect_leaks: LSan at
# every process exit, with test/asan/lsan.supp for V8's own heap bookkeeping. allow_user_segv_handler:
# V8 installs its SIGSEGV handler for WebAssembly bounds checks after ASan's; let it. The vCPU kick signal
# (SIGRTMIN+6, native/vcpu_kick.cc) needs nothing: ASan leaves real-time signals to the program, and
# KVM_RUN returning EINTR is not a sanitizer event. detect_stack_use_after_return stays off: V8 walks and
# switches stacks in ways the fake-stack mode breaks.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:exitcode=86:detect_leaks=1:allow_user_segv_handler=1:detect_stack_use_after_return=0:log_path=$REPORTS/asan"
export LSAN_OPTIONS="suppressions=$ROOT/test/asan/lsan.supp:print_suppressions=0"
# UBSan (GCC's libubsan beside ASan) ignores log_path: its reports go to the process's stderr, and
# halt_on_error ends the process with exit code 87, which fails the test that ran it.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87"
export NODE_VMM_PREBUILD=$OUT
export PATH=$SHIMS:$PATH

loaded=$(LD_PRELOAD="$ASAN_RUNTIME $UBSAN_RUNTIME" node -e "
  require('./dist/lib/native/binding').native();
  const maps = require('fs').readFileSync('/proc/self/maps', 'utf8');
  console.log(maps.split('\n').map((l) => l.split(/\s+/)[5]).find((f) => f && f.endsWith('node_vmm.node')) || 'none');")
if [ "$loaded" != "$ADDON" ]; then
  echo "test:asan: the tests would load $loaded, not the sanitizer build $ADDON" >&2
  exit 1
fi
echo "test:asan: $ADDON with $(basename "$ASAN_RUNTIME") and $(basename "$UBSAN_RUNTIME") preloaded"

status=0
LD_PRELOAD="$ASAN_RUNTIME $UBSAN_RUNTIME" npx mocha "$@" || status=$?
reports=$(find "$REPORTS" -type f | wc -l)
if [ "$reports" != 0 ]; then
  for report in "$REPORTS"/*; do
    echo "== $report"
    head -60 "$report"
  done
fi
echo "test:asan: $reports sanitizer reports, mocha exit status $status"
[ "$reports" = 0 ] && [ "$status" = 0 ]
