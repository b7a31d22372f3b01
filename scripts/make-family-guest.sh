#!/usr/bin/env bash
# Builds (once) a real Debian 12 guest laid out the way another family lays itself out, as it would
# come from VMware, and prints the path of the cached raw image. Used by test/guest-families.test.ts.
#
#   make-family-guest.sh FAMILY     FAMILY = a file of scripts/guest-families/ (uefi, ...): it sets
#                                   PACKAGES (and EXCLUDE) and defines configure_root (the tree after debootstrap)
#                                   and make_disk (the tree -> $WORK/disk.raw); see each file's header.
#
# Debian packages only (no other distribution's archive is reachable): the userland stays Debian's.
# Cache: ${H2K_FIXTURE_CACHE:-~/.cache/h2k-fixtures}/family-<name>-<key>/disk.raw, key = hash of this
# script and the family's file; built under a lock into a .partial directory and renamed into place.
# Downloaded .debs are shared in the cache's debs/ (debootstrap --cache-dir).
# Needs root and: debootstrap, e2fsprogs, dosfstools, fdisk (sfdisk), util-linux (flock),
# libguestfs-tools, plus what the family's file names; the Debian mirror for the first build.
set -euo pipefail

FAMILY=${1:?usage: make-family-guest.sh FAMILY}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FAMILY_FILE="$HERE/guest-families/$FAMILY.sh"
[ -f "$FAMILY_FILE" ] || { echo "make-family-guest: no $FAMILY_FILE" >&2; exit 2; }
SUITE=bookworm
MIRROR=${H2K_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_PACKAGES=linux-image-amd64,systemd-sysv,udev,kmod,ifupdown,isc-dhcp-client,initramfs-tools
ROOT_UUID=5b0e7c3a-1f2d-4e6a-8c9b-0a1b2c3d4e5f
VMWARE_MAC=00:50:56:9b:52:e3
DISK_MIB=1024

CACHE=${H2K_FIXTURE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/h2k-fixtures}
KEY=$(cat "${BASH_SOURCE[0]}" "$FAMILY_FILE" | sha256sum | cut -c1-16)
DEST="$CACHE/family-$FAMILY-$KEY"
log() { echo "make-family-guest[$FAMILY]: $*" >&2; }
# guestfish on the disk being built, script on stdin, output to $1 (shown when it fails)
appliance() {
  LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=$([ "${H2K_GUEST_ACCEL:-}" = kvm ] || echo force_tcg) \
    guestfish --format=raw -a "$WORK/disk.raw" >"$1" 2>&1 || { cat "$1" >&2; log "guestfish failed"; return 1; }
}

# grub-install for BIOS, run by guestfish's sh: the disk is named as the appliance's kernel sees it.
# libguestfs calls it /dev/sda, but when the appliance's disks enumerate the other way round the
# kernel's /dev/sda is the appliance's own root ("File system `ext2' doesn't support embedding").
GRUB_INSTALL_BIOS='sh "d=$(findmnt -no SOURCE -T /boot); grub-install --target=i386-pc ${d%%[0-9]*}"'
# the test's eyes: the guest's addresses ("h2k-net ...") on the console once the network is online,
# ordered before getty-pre.target so the serial login prompt (where a boot test stops) comes after
# them (ordered only before multi-user, it lost the race with the serial getty)
install_net_report_unit() {
  mkdir -p "$ROOT/etc/systemd/system/multi-user.target.wants"
  cat >"$ROOT/etc/systemd/system/h2k-fixture-net.service" <<'UNIT'
[Unit]
Description=h2k fixture: print the network addresses on the console
Wants=network-online.target getty-pre.target
After=network-online.target
Before=multi-user.target getty-pre.target
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "h2k-net $(hostname -I)"'
StandardOutput=journal+console
[Install]
WantedBy=multi-user.target
UNIT
  ln -s /etc/systemd/system/h2k-fixture-net.service "$ROOT/etc/systemd/system/multi-user.target.wants/h2k-fixture-net.service"
}
# the VMware host's initramfs ($1, downloaded from the appliance): no virtio_blk, and every module
# named after it (a filesystem the root needs) present
check_initramfs_without_virtio() {
  local image=$1 module; shift
  lsinitramfs "$image" >"$WORK/initramfs.list" || { log "lsinitramfs failed"; return 1; }
  if grep -q virtio_blk "$WORK/initramfs.list"; then log "initramfs still has virtio_blk"; return 1; fi
  for module; do
    grep -q "/$module\.ko" "$WORK/initramfs.list" || { head -n 40 "$WORK/initramfs.list" >&2; log "initramfs lacks $module"; return 1; }
  done
}
# the grub.cfg the appliance printed into grub.log boots what it should: $1 a grep pattern, $2 what
check_grub_cfg() {
  grep -q -- "$1" "$WORK/grub.log" || { cat "$WORK/grub.log" >&2; log "grub.cfg does not boot $2"; return 1; }
}

if [ -f "$DEST/disk.raw" ]; then echo "$DEST/disk.raw"; exit 0; fi
[ "$(id -u)" -eq 0 ] || { log "needs root (debootstrap and chroot)"; exit 1; }
# shellcheck source=/dev/null
. "$FAMILY_FILE"
for tool in debootstrap mke2fs mkfs.vfat sfdisk guestfish flock chroot; do
  command -v "$tool" >/dev/null || { log "missing $tool: run scripts/setup-system.sh"; exit 1; }
done

mkdir -p "$CACHE/debs"
exec 9>"$DEST.lock"
flock 9
if [ -f "$DEST/disk.raw" ]; then echo "$DEST/disk.raw"; exit 0; fi

WORK="$DEST.partial"
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
started=$SECONDS
ROOT="$WORK/root"

log "debootstrap $SUITE from $MIRROR"
# one download cache for every family; the lock keeps two debootstraps from writing it at once
(flock 8; debootstrap --variant=minbase --cache-dir="$CACHE/debs" --include="$PACKAGES" ${EXCLUDE:+--exclude="$EXCLUDE"} "$SUITE" "$ROOT" "$MIRROR") \
  8>"$CACHE/debs.lock" >"$WORK/debootstrap.log" 2>&1 || { tail -n 30 "$WORK/debootstrap.log" >&2; log "debootstrap failed"; exit 1; }
log "debootstrap done after $((SECONDS - started)) s"
KVER=$(basename "$(ls -d "$ROOT"/lib/modules/* | sort | tail -n 1)")

# --- size: storage, filesystems, network and console drivers only ---
MODDIR="$ROOT/lib/modules/$KVER/kernel"
for d in "$MODDIR"/drivers/*; do
  case "${d##*/}" in ata|block|scsi|message|virtio|net|char|tty|input|cdrom|nvme|md|acpi|pci|platform|hid|firmware) ;; *) rm -rf "$d" ;; esac
done
for d in "$MODDIR"/drivers/net/*/; do [ "$(basename "$d")" = vmxnet3 ] || rm -rf "$d"; done
rm -rf "$MODDIR"/{sound,net/bluetooth,net/mac80211,net/wireless} "$ROOT"/lib/firmware
chroot "$ROOT" depmod "$KVER"
rm -rf "$ROOT"/usr/share/{doc,man,info,locale}/* "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*_*

echo "vmware-$FAMILY" >"$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tvmware-%s\n' "$FAMILY" >"$ROOT/etc/hosts"
cat >"$ROOT/etc/default/grub" <<'EOF'
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX=""
GRUB_DISABLE_RECOVERY=true
GRUB_DISABLE_OS_PROBER=true
GRUB_TERMINAL=console
EOF
printf 'auto lo\niface lo inet loopback\n\nallow-hotplug eth0\niface eth0 inet dhcp\n' >"$ROOT/etc/network/interfaces"

configure_root
make_disk

mkdir -p "$DEST"
mv "$WORK/disk.raw" "$DEST/disk.raw" # same filesystem: an atomic rename
log "built $DEST/disk.raw in $((SECONDS - started)) s"
echo "$DEST/disk.raw"
