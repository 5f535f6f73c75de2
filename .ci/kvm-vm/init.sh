#!/bin/busybox sh
# /init of the kvm-vm initramfs: load KVM and 9p, mount the host's root filesystem, run the job
# chrooted in it, record its exit status on the shared filesystem, power off.
/bin/busybox mkdir -p /bin /sbin /proc /sys /dev /host
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

job=$(sed -n 's/.*kvmvm\.job=\([^ ]*\).*/\1/p' /proc/cmdline)
for module in $(cat /modules.order); do
  insmod "/modules/$module" 2>/dev/null || echo "kvm-vm: insmod $module failed" > /dev/console
done

mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,access=any hostroot /host || {
  echo "kvm-vm: cannot mount the host filesystem" > /dev/console
  poweroff -f
}
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs shm /host/dev/shm

if [ -e /dev/kvm ]; then
  echo "kvm-vm: /dev/kvm provided by kvm_amd inside QEMU TCG (software-emulated AMD SVM); timings here are not meaningful" > /dev/console
else
  echo "kvm-vm: kvm_amd did not provide /dev/kvm" > /dev/console
fi

chroot /host /bin/sh "$job/job.sh" < /dev/null > /dev/console 2>&1
echo $? > "/host$job/status"
sync
poweroff -f
