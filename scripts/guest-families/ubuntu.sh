# "Ubuntu-like" guest: a Debian userland laid out as an Ubuntu cloud image on VMware (it is not
# Ubuntu): netplan (systemd-networkd renderer) with cloud-init's /etc/netplan/50-cloud-init.yaml
# matching the VMware NIC by MAC and renaming it with set-name, and cloud-init's configuration.
# The initramfs has virtio (MODULES=most, as Ubuntu's): the unfixed conversion boots, but its
# NIC matches nothing and stays down. A oneshot unit prints the guest's addresses ("h2k-net ...")
# on the console once the network is online (or after at most 20 s), ordered before getty-pre.target
# so the login prompt (where validate --boot stops) comes after it: the console shows whether the
# network came up. (Ordered only before multi-user, it lost the race with the serial getty.)
# cloud-init itself is not installed (its python stack fails to configure inside debootstrap):
# its configuration is laid out as a cloud image leaves it (/etc/cloud/cloud.cfg), which is what
# h2k reads and writes; cloud-init never runs in this guest. Sourced by make-family-guest.sh.
# (ifupdown only because the shared part writes /etc/network/interfaces; configure_root removes it)
PACKAGES=linux-image-amd64,systemd-sysv,udev,kmod,initramfs-tools,grub-pc,netplan.io,ifupdown

configure_root() {
  cat >"$ROOT/etc/fstab" <<EOF
UUID=$ROOT_UUID  /  ext4  defaults  0  1
EOF
  rm -f "$ROOT/etc/network/interfaces"
  mkdir -p "$ROOT/etc/cloud/cloud.cfg.d"
  cat >"$ROOT/etc/cloud/cloud.cfg" <<'EOF'
# The top level settings are used as module and base configuration (cloud image default, trimmed)
users:
   - default
disable_root: true
preserve_hostname: false
datasource_list: [ VMware, OVF, None ]
cloud_init_modules:
 - seed_random
 - bootcmd
 - write-files
 - set_hostname
 - update_hostname
EOF
  printf 'datasource_list: [ VMware, OVF, None ]\n' >"$ROOT/etc/cloud/cloud.cfg.d/90_dpkg.cfg"
  mkdir -p "$ROOT/etc/netplan"
  install -m 600 /dev/stdin "$ROOT/etc/netplan/50-cloud-init.yaml" <<EOF
# This file is generated from information provided by the datasource.  Changes
# to it will not persist across an instance reboot.  To disable cloud-init's
# network configuration capabilities, write a file
# /etc/cloud/cloud.cfg.d/99-disable-network-config.cfg with the following:
# network: {config: disabled}
network:
    ethernets:
        ens192:
            dhcp4: true
            match:
                macaddress: $VMWARE_MAC
            set-name: ens192
    version: 2
EOF
  chroot "$ROOT" systemctl enable systemd-networkd.service systemd-networkd-wait-online.service >/dev/null 2>&1
  mkdir -p "$ROOT/etc/systemd/system/systemd-networkd-wait-online.service.d"
  printf '[Service]\nExecStart=\nExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=20\n' \
    >"$ROOT/etc/systemd/system/systemd-networkd-wait-online.service.d/h2k-fixture-timeout.conf"
  install_net_report_unit
  chroot "$ROOT" update-initramfs -u -k "$KVER" >"$WORK/initramfs.log" 2>&1 || { cat "$WORK/initramfs.log" >&2; return 1; }
}

make_disk() {
  mke2fs -q -F -t ext4 -U "$ROOT_UUID" -L ubunturoot -E "hash_seed=$ROOT_UUID" -d "$ROOT" "$WORK/root.ext4" "$((DISK_MIB - 1))M" 2>/dev/null
  rm -rf "$ROOT"
  truncate -s "${DISK_MIB}M" "$WORK/disk.raw"
  printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk --quiet "$WORK/disk.raw"
  dd if="$WORK/root.ext4" of="$WORK/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
  rm -f "$WORK/root.ext4"
  log "grub-install + update-grub inside a libguestfs appliance"
  appliance "$WORK/grub.log" <<EOF
run
mount /dev/sda1 /
$GRUB_INSTALL_BIOS
command "update-grub"
sync
umount-all
EOF
}
