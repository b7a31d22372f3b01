# "RHEL-like" guest: a Debian userland laid out as RHEL lays itself out (it is not RHEL): MBR with
# a separate /boot (XFS) and an LVM volume group "rhel" whose "root" volume holds XFS; dracut
# (Debian's) as the initramfs tool with RHEL's names (/boot/initramfs-<kver>.img) and hostonly;
# grub2 with BootLoaderSpec entries in /boot/loader/entries and /etc/kernel/cmdline (Debian's grub boots its own grub.cfg:
# it has no blscfg, so the entries are kept right by h2k but not what boots here); NetworkManager
# keyfile and an ifcfg-ens192, both pinned to a VMware MAC; SELINUX=enforcing in
# /etc/selinux/config. The initramfs is built as on the VMware host: no virtio drivers, so the
# unfixed conversion cannot find its root volume. Sourced by make-family-guest.sh.
# dracut-core, not dracut: debootstrap resolves the kernel's "initramfs-tools | linux-initramfs-tool"
# to initramfs-tools, which the dracut package conflicts with; configure_root purges initramfs-tools
# NetworkManager runs the NIC from its keyfile (dbus and libpam-systemd named too: debootstrap does
# not resolve NetworkManager's "default-dbus-system-bus | dbus-system-bus" and polkitd's logind
# alternatives, and the package then fails to configure). Debian's NetworkManager has no ifcfg-rh
# plugin: the ifcfg file is laid out as RHEL leaves it and rewritten by h2k, not read at boot.
# A oneshot unit prints the guest's addresses ("h2k-net ...") on the console once the network is
# online (NetworkManager-wait-online, at most 30 s), before the serial login prompt: the console
# shows whether NetworkManager brought the NIC up with the keyfile h2k left.
# (ifupdown only because the shared part writes /etc/network/interfaces; configure_root removes it)
PACKAGES=linux-image-amd64,systemd-sysv,udev,kmod,dracut-core,lvm2,xfsprogs,grub-pc,ifupdown,dbus,libpam-systemd,network-manager
BOOT_UUID=2f6e1d4c-8b3a-4c5d-9e7f-1a2b3c4d5e6f
BOOT_MIB=300
DISK_MIB=1536
MACHINE_ID=4f6a2c9e8b1d4e7fa3c5b0d2e9f1a7c4

configure_root() {
  chroot "$ROOT" dpkg --purge --force-depends initramfs-tools initramfs-tools-core >"$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log" >&2; return 1; }
  mkdir -p "$ROOT/etc/dracut.conf.d"
  cat >"$ROOT/etc/fstab" <<EOF
/dev/mapper/rhel-root   /       xfs     defaults        0 0
UUID=$BOOT_UUID /boot   xfs     defaults        0 0
EOF
  echo "$MACHINE_ID" >"$ROOT/etc/machine-id"
  rm -f "$ROOT/etc/network/interfaces"
  cat >>"$ROOT/etc/default/grub" <<'EOF'
GRUB_CMDLINE_LINUX="rd.lvm.lv=rhel/root"
GRUB_ENABLE_BLSCFG=true
EOF
  # RHEL 9: kernel-install builds a new kernel's BLS entry from this command line
  mkdir -p "$ROOT/etc/kernel"
  echo "root=/dev/mapper/rhel-root ro rd.lvm.lv=rhel/root crashkernel=1G-4G:192M" >"$ROOT/etc/kernel/cmdline"
  mkdir -p "$ROOT/boot/loader/entries"
  cat >"$ROOT/boot/loader/entries/$MACHINE_ID-$KVER.conf" <<EOF
title Red Hat Enterprise Linux-like ($KVER) (Debian userland)
version $KVER
linux /vmlinuz-$KVER
initrd /initramfs-$KVER.img
options root=/dev/mapper/rhel-root ro rd.lvm.lv=rhel/root crashkernel=1G-4G:192M
grub_users \$grub_users
grub_arg --unrestricted
grub_class kernel
EOF
  install -d -m 700 "$ROOT/etc/NetworkManager/system-connections"
  install -m 600 /dev/stdin "$ROOT/etc/NetworkManager/system-connections/ens192.nmconnection" <<EOF
[connection]
id=ens192
uuid=6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f
type=ethernet
interface-name=ens192

[ethernet]
mac-address=$VMWARE_MAC

[ipv4]
method=auto

[ipv6]
method=auto
EOF
  mkdir -p "$ROOT/etc/sysconfig/network-scripts" "$ROOT/etc/selinux"
  cat >"$ROOT/etc/sysconfig/network-scripts/ifcfg-ens192" <<EOF
TYPE=Ethernet
BOOTPROTO=dhcp
NAME=ens192
DEVICE=ens192
ONBOOT=yes
HWADDR=$VMWARE_MAC
EOF
  printf 'SELINUX=enforcing\nSELINUXTYPE=targeted\n' >"$ROOT/etc/selinux/config"
  mkdir -p "$ROOT/etc/NetworkManager/conf.d"
  install_net_report_unit
  # keyfiles only, as on RHEL (Debian's default also runs the ifupdown plugin)
  printf '[main]\nplugins=keyfile\n' >"$ROOT/etc/NetworkManager/conf.d/h2k-fixture-rhel.conf"
  printf 'hostonly="yes"\n' >"$ROOT/etc/dracut.conf.d/01-dist.conf"
  rm -f "$ROOT"/boot/initrd.img-* # Debian's name; RHEL's initramfs is made in the appliance (make_disk)
}

make_disk() {
  tar --numeric-owner -C "$ROOT" -cf "$WORK/root.tar" .
  rm -rf "$ROOT"
  truncate -s "${DISK_MIB}M" "$WORK/disk.raw"
  printf 'label: dos\nstart=2048, size=%s, type=83, bootable\nstart=%s, type=8e\n' \
    "$((BOOT_MIB * 2048))" "$(((BOOT_MIB + 1) * 2048))" | sfdisk --quiet "$WORK/disk.raw"
  log "LVM + XFS, the tree, grub-install + update-grub inside a libguestfs appliance"
  appliance "$WORK/grub.log" <<EOF
run
pvcreate /dev/sda2
vgcreate rhel /dev/sda2
lvcreate-free root rhel 100
mkfs xfs /dev/rhel/root
mkfs xfs /dev/sda1
set-uuid /dev/sda1 $BOOT_UUID
mount /dev/rhel/root /
mkdir /boot
mount /dev/sda1 /boot
tar-in $WORK/root.tar /
sh "dracut -f --no-hostonly --gzip --filesystems xfs --add-drivers dm-mod --omit-drivers 'virtio_blk virtio_scsi virtio_net virtio_pci virtio_console' /boot/initramfs-$KVER.img $KVER"
download /boot/initramfs-$KVER.img $WORK/initramfs.img
$GRUB_INSTALL_BIOS
command "update-grub"
echo GRUB:
cat /boot/grub/grub.cfg
sync
umount-all
EOF
  rm -f "$WORK/root.tar"
  # the VMware host's initramfs: everything but virtio, under RHEL's name
  # --gzip: the host's lsinitramfs reads it whatever the host has; --filesystems/--add-drivers: a
  # no-hostonly image did not carry xfs (the last build stopped on it)
  check_initramfs_without_virtio "$WORK/initramfs.img" xfs
  check_grub_cfg 'root=/dev/mapper/rhel-root' "the LVM root"
}
