#!/usr/bin/env bash
# Demo: builds a small seeded VMDK with qemu-img, converts it with h2k, checks it with qemu-img.
set -euo pipefail
cd "$(dirname "$0")/.."
work=examples/work
mkdir -p "$work"
node scripts/make-seeded-raw.js "$work/demo.raw" 64
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicSparse "$work/demo.raw" "$work/demo.vmdk"
node bin/h2k.js info "$work/demo.vmdk"
node bin/h2k.js convert "$work/demo.vmdk" -o "$work/demo.qcow2" --force
qemu-img check -q "$work/demo.qcow2"
qemu-img compare -q "$work/demo.raw" "$work/demo.qcow2"
echo "demo: $work/demo.vmdk -> $work/demo.qcow2 converted and verified identical by qemu-img"
