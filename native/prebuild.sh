#!/usr/bin/env bash
# Builds the prebuild that the npm package carries (prebuilds/linux-x64/node-vmm.glibc.node) with
# prebuildify, inside a Debian 11 (bullseye, glibc 2.31, gcc 10) chroot made by debootstrap: an addon
# linked against an older glibc loads on every newer one, the reverse does not. libstdc++ and libgcc are
# linked statically (NODE_VMM_STATIC_RUNTIME=1, binding.gyp), so it needs no particular libstdc++ either. Then it
# checks the symbol versions the prebuild needs and loads it inside the chroot. Run by `npm pack`
# (prepack) and `npm run prebuilds`; needs root and debootstrap (.ci/run installs it).
#   NODE_VMM_PREBUILD_ROOT=DIR   where the chroot lives (default: .prebuild-root/bullseye, kept between runs)
#   NODE_VMM_PREBUILD_ON_HOST=1  build with the host's toolchain instead (the prebuild then needs the host's glibc)
#   NODE_VMM_PREBUILD_REUSE=1    keep an existing prebuild that is newer than every addon source (.ci/run
#                                builds it on the host, then packs inside .ci/kvm-vm where chroots are out of reach)
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGE_DIR=$PWD
SUITE=bullseye
ROOT=${NODE_VMM_PREBUILD_ROOT:-$PACKAGE_DIR/.prebuild-root/$SUITE}
PREBUILD=prebuilds/linux-x64/node-vmm.glibc.node  # prebuildify's name: package name, libc tag
# -t: the running Node's own headers (N-API: the one build serves every Node >= 20), not a download.
PREBUILDIFY=(node_modules/prebuildify/bin.js --napi --strip --tag-libc -t "$(node -p process.versions.node)")

if [ "${NODE_VMM_PREBUILD_REUSE:-}" = 1 ] && [ -f "$PREBUILD" ] &&
  [ -z "$(find native binding.gyp package.json -newer "$PREBUILD" -print -quit)" ]; then
  echo "prebuild: keeping $PREBUILD (newer than the addon's sources)"
  exit 0
fi

max_glibc() {
  objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1
}

rm -rf prebuilds
if [ "${NODE_VMM_PREBUILD_ON_HOST:-}" = 1 ]; then
  NODE_VMM_STATIC_RUNTIME=1 node "${PREBUILDIFY[@]}"
  echo "prebuild: $PREBUILD built on this host: it needs $(max_glibc "$PREBUILD") (README, Building)"
  exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v debootstrap >/dev/null; then
  echo "prebuild: building in a $SUITE chroot needs root and debootstrap (apt-get install debootstrap);" >&2
  echo "          NODE_VMM_PREBUILD_ON_HOST=1 builds with this host's toolchain instead" >&2
  exit 1
fi

NODE_BIN=$(command -v node)
NODE_HEADERS=$(dirname "$(dirname "$NODE_BIN")")/include/node
NODE_GYP=${npm_config_node_gyp:-$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js}
NODE_GYP=$(readlink -f "$NODE_GYP")
NPM_DIR=$(dirname "$(dirname "$(dirname "$NODE_GYP")")")  # .../npm, which holds node-gyp and its dependencies
[ -f "$NODE_HEADERS/node_api.h" ] || { echo "prebuild: no Node headers at $NODE_HEADERS" >&2; exit 1; }
[ -f "$NODE_GYP" ] || { echo "prebuild: node-gyp not found (looked at $NODE_GYP)" >&2; exit 1; }

if [ ! -e "$ROOT/.node-vmm-prebuild-root" ]; then
  echo "prebuild: debootstrap $SUITE into $ROOT (once; about a minute)"
  rm -rf "$ROOT"
  mkdir -p "$ROOT"
  debootstrap --variant=minbase --include=g++,make,python3 "$SUITE" "$ROOT" >"$ROOT.debootstrap.log" 2>&1 ||
    { tail -20 "$ROOT.debootstrap.log" >&2; exit 1; }
  touch "$ROOT/.node-vmm-prebuild-root"
fi

MOUNTS=()
cleanup() {
  local i
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[$i]}" || umount -l "${MOUNTS[$i]}" || true; done
}
trap cleanup EXIT
bind() {  # bind SOURCE TARGET-INSIDE-ROOT [ro]
  local target=$ROOT$2
  if [ -d "$1" ]; then mkdir -p "$target"; else mkdir -p "$(dirname "$target")"; touch "$target"; fi
  mount --bind "$1" "$target"
  MOUNTS+=("$target")
  if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$target"; fi
}
mkdir -p "$ROOT/proc"
mount -t proc proc "$ROOT/proc"
MOUNTS+=("$ROOT/proc")
bind "$PACKAGE_DIR" /src
bind "$NODE_BIN" /usr/local/bin/node ro
bind "$NODE_HEADERS" /usr/include/node ro
bind "$NPM_DIR" "$NPM_DIR" ro
# The kernel's UAPI headers (KVM's structs) come from this host, as for the host build: bullseye's 5.10
# ones lack fields the addon reads. They are independent of glibc.
for uapi in linux asm-generic x86_64-linux-gnu/asm; do bind "/usr/include/$uapi" "/usr/include/$uapi" ro; done

in_root() {
  chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root TMPDIR=/tmp \
    npm_config_nodedir=/usr PREBUILD_NODE_GYP="$NODE_GYP" NODE_VMM_STATIC_RUNTIME=1 /bin/sh -c "cd /src && $1"
}
in_root "node ${PREBUILDIFY[*]@Q}"
echo "prebuild: $PREBUILD built on Debian $SUITE ($(in_root 'ldd --version | head -1')); it needs $(max_glibc "$PREBUILD")"
in_root "node -e \"require('./$PREBUILD'); console.log('prebuild: loads there (Node ' + process.version + ')')\""
