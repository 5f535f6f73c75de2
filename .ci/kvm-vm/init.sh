#!/bin/busybox sh
# /init of the kvm-vm initramfs: load virtio, 9p and KVM, mount the host's root filesystem, run the
# job chrooted in it with stdout/stderr on their virtio-serial ports, record its exit status on the
# shared filesystem, power off. Kernel messages stay on ttyS0, which the host keeps in a log file.
/bin/busybox mkdir -p /bin /proc /sys /dev /host
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
hostname kvm-vm
ip link set lo up 2>/dev/null

job=$(sed -n 's/.*kvmvm\.job=\([^ ]*\).*/\1/p' /proc/cmdline)
problems=""
for module in $(cat /modules.order); do
  insmod "/modules/$module" 2>/dev/null || problems="$problems insmod:$module"
done

# The host names the ports kvmvm.out and kvmvm.err; they show up shortly after virtio_console loads.
out=/dev/console err=/dev/console
for try in $(seq 100); do
  for port in /sys/class/virtio-ports/*; do
    [ -e "$port/name" ] || continue
    case "$(cat "$port/name")" in
      kvmvm.out) out="/dev/${port##*/}" ;;
      kvmvm.err) err="/dev/${port##*/}" ;;
    esac
  done
  [ "$out" = /dev/console ] || [ "$err" = /dev/console ] || break
  sleep 0.05
done
say() {
  echo "kvm-vm: $*" > /dev/console
  [ "$err" = /dev/console ] || echo "kvm-vm: $*" >> "$err"
}
[ -z "$problems" ] || say "failed:$problems"

# cache=loose: the guest may cache what it reads (node_modules!) since nothing changes the files
# under a running job; what the job writes is flushed by sync before power-off.
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,access=any hostroot /host; then
  say "cannot mount the host filesystem over 9p"
  poweroff -f
fi
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs shm /host/dev/shm

if [ ! -c /dev/kvm ]; then
  say "kvm_amd did not provide /dev/kvm (KVM_VM_VERBOSE=1 shows the guest kernel's console)"
  echo 1 > "/host$job/status"
  sync
  poweroff -f
fi
say "/dev/kvm provided by kvm_amd (npt=$(cat /sys/module/kvm_amd/parameters/npt)) inside QEMU TCG (software-emulated AMD SVM), $(nproc) vCPUs; timings here are not meaningful"

chroot /host /bin/sh "$job/job.sh" < /dev/null > "$out" 2> "$err"
echo $? > "/host$job/status"
sync
poweroff -f
