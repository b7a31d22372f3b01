#!/usr/bin/env bash
# Installs the Debian packages h2k needs to build, test and run.
# Idempotent: skips apt entirely when every package is already installed.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config           # native addon toolchain
  zlib1g-dev libdeflate-dev libzstd-dev      # codecs (zlib for inflate, libdeflate for fast deflate, zstd)
  libxxhash-dev xxhash                       # XXH3 in the addon; xxhsum as a test oracle
  qemu-utils                                 # qemu-img: the independent oracle in tests and benchmarks
  clang libclang-rt-14-dev                   # libFuzzer + ASan/UBSan runtimes for `npm run fuzz`
  sqlite3                                    # inspecting the dedup database by hand / in tests
  time                                       # /usr/bin/time -v: peak RSS in benchmarks
  zsh                                        # `zsh -n` on the generated completion script (tests)
  libguestfs-tools                           # guestfish/virt-make-fs: guest inspection and fixes (src/guest)
  libhivex-bin ntfs-3g xorriso               # Windows guests: hivexget/hivexregedit edit the hives; NTFS fixtures; a virtio-win ISO in tests
  qemu-system-x86                            # boot test of fixed guests (h2k validate --boot)
  linux-image-amd64                          # a kernel for guest fixtures and the libguestfs appliance
  busybox-static debootstrap                 # building small guest root filesystems in tests
  initramfs-tools-core zstd cpio xz-utils   # lsinitramfs (+ zstd for Debian 12 initrds): guest-debian; cpio, xz: initramfs-listing
  e2fsprogs fdisk dosfstools mtools          # guest fixture disks without an appliance (mkfs.ext4 -d, sfdisk, FAT)
  ovmf                                       # UEFI firmware: h2k validate --boot of UEFI guests (test/guest-families.test.ts)
  libguestfs-xfs lvm2 btrfs-progs            # XFS (appliance), LVM and btrfs for the RHEL-/SUSE-like guest fixtures
  libvirt-clients libxml2-utils              # virt-xml-validate (+ the xmllint it runs): checks the libvirt XML built from OVF
  openssl procps tar gzip                    # test fixtures: SMTP STARTTLS certificate, process checks, OVA archives
  strace                                     # test/daemon-hostile-drops.test.ts: which files the daemon opens
  prometheus                                 # promtool check metrics: parses every scrape in test/daemon-metrics.test.ts (its service is not started)
  gnuplot-nox                                # scripts/render-dashboard.mjs: docs/grafana-panels.png from a real scrape
  systemd                                    # systemd-analyze verify/security + systemd-sysusers on the units (no running systemd needed)
  python3                                    # test/service-systemd.test.ts: the $NOTIFY_SOCKET datagram listener
  postgresql-15                              # initdb/pg_ctl: test/pg-queue.test.ts and bench/cluster.js start a throwaway server (the packaged service is not started)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-system: all Debian packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup-system: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# These packages are tools for h2k and its tests (promtool comes inside the prometheus server
# package, initdb/pg_ctl inside postgresql-15): none of their services may start on this machine.
# policy-rc.d refuses service starts during the install; a service the package enables anyway is
# disabled afterwards.
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 0755 "$POLICY"
  trap '$SUDO rm -f "$POLICY"' EXIT
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now prometheus.service postgresql.service >/dev/null 2>&1 || true
fi
