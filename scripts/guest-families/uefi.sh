# UEFI guest: GPT + ESP (FAT) + ext4 root; grub-efi-amd64 installed by grub-install --no-nvram into
# EFI/debian/ only: the NVRAM entry that pointed at it stayed on the ESX host, and there is no
# EFI/BOOT/BOOTX64.EFI fallback. The installer's fstab names root and ESP by UUID and the
# initramfs has MODULES=most (virtio included): the only thing that stops this guest on KVM is the
# firmware finding no loader. Sourced by make-family-guest.sh.
PACKAGES=$BASE_PACKAGES,grub-efi-amd64
ESP_UUID=4832-E5F1
ESP_MIB=64

configure_root() {
  cat >"$ROOT/etc/fstab" <<EOF
UUID=$ROOT_UUID  /          ext4  errors=remount-ro  0  1
UUID=$ESP_UUID        /boot/efi  vfat  umask=0077         0  1
EOF
  mkdir -p "$ROOT/boot/efi"
  chroot "$ROOT" update-initramfs -u -k "$KVER" >"$WORK/initramfs.log" 2>&1 || { cat "$WORK/initramfs.log" >&2; return 1; }
}

make_disk() {
  local root_mib=$((DISK_MIB - ESP_MIB - 2))
  mke2fs -q -F -t ext4 -U "$ROOT_UUID" -L uefiroot -E "hash_seed=$ROOT_UUID" -d "$ROOT" "$WORK/root.ext4" "${root_mib}M"
  rm -rf "$ROOT"
  truncate -s "${DISK_MIB}M" "$WORK/disk.raw"
  printf 'label: gpt\nstart=2048, size=%s, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI System"\nstart=%s, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root\n' \
    "$((ESP_MIB * 2048))" "$(((ESP_MIB + 1) * 2048))" | sfdisk --quiet "$WORK/disk.raw"
  dd if="$WORK/root.ext4" of="$WORK/disk.raw" bs=1M seek=$((ESP_MIB + 1)) conv=notrunc,sparse status=none
  rm -f "$WORK/root.ext4"
  mkfs.vfat -i "${ESP_UUID/-/}" -n ESP -C "$WORK/esp.vfat" $((ESP_MIB * 1024)) >/dev/null
  dd if="$WORK/esp.vfat" of="$WORK/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
  rm -f "$WORK/esp.vfat"
  log "grub-install (x86_64-efi, --no-nvram) + update-grub inside a libguestfs appliance"
  appliance "$WORK/grub.log" <<'EOF'
run
mount /dev/sda2 /
mount /dev/sda1 /boot/efi
command "grub-install --target=x86_64-efi --efi-directory=/boot/efi --bootloader-id=debian --no-nvram"
command "update-grub"
echo ESP:
find /boot/efi
sync
umount-all
EOF
  grep -q '^/EFI/debian/grubx64.efi$' "$WORK/grub.log" || { cat "$WORK/grub.log" >&2; log "no EFI/debian/grubx64.efi"; return 1; }
  if grep -qi '^/EFI/BOOT/' "$WORK/grub.log"; then cat "$WORK/grub.log" >&2; log "a fallback loader was installed"; return 1; fi
}
