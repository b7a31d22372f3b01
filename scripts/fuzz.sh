#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into build-fuzz/, generates a seed
# corpus with qemu-img into fuzz-corpus/, and runs each target (every native/fuzz/*.cpp, or the
# names in FUZZ_TARGETS) for FUZZ_SECONDS (default 120).
# Crashes are written to fuzz-corpus/crashes/<target>/ and make the script exit non-zero.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$ROOT/build-fuzz"
CORPUS="$ROOT/fuzz-corpus"
SECONDS_EACH="${FUZZ_SECONDS:-120}"
if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a TARGETS <<<"$FUZZ_TARGETS"
else
  TARGETS=()
  for src in "$ROOT"/native/fuzz/*.cpp; do TARGETS+=("$(basename "$src" .cpp)"); done
fi

for tool in clang clang++ qemu-img qemu-io node; do
  command -v "$tool" >/dev/null || { echo "fuzz.sh: $tool is required (run scripts/setup-system.sh)" >&2; exit 2; }
done

CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD" -DH2K_BUILD_FUZZ=ON -DH2K_BUILD_TOOLS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j2 --target "${TARGETS[@]}"

# ---- seed corpus (small images: the fuzzer mutates bytes, size only slows it down) ----
SEED_TMP="$(mktemp -d)"
trap 'rm -rf "$SEED_TMP"' EXIT
mkdir -p "$CORPUS/fuzz_vmdk_sparse" "$CORPUS/fuzz_vmdk_descriptor"
RAW="$SEED_TMP/src.raw"
node -e '
  const fs = require("fs");
  const fd = fs.openSync(process.argv[1], "w");
  fs.ftruncateSync(fd, 2 * 1024 * 1024 + 1536);
  fs.writeSync(fd, Buffer.from("h2k fuzz seed text ".repeat(4000)), 0, 65536, 0);
  const rnd = Buffer.alloc(8192); for (let i = 0; i < rnd.length; i++) rnd[i] = (i * 2654435761) >>> 24;
  fs.writeSync(fd, rnd, 0, rnd.length, 1024 * 1024 + 512);
  fs.writeSync(fd, rnd, 0, 1024, 2 * 1024 * 1024 + 512);
  fs.closeSync(fd);' "$RAW"
for sub in monolithicSparse streamOptimized twoGbMaxExtentSparse monolithicFlat twoGbMaxExtentFlat; do
  qemu-img convert -q -f raw -O vmdk -o subformat=$sub "$RAW" "$SEED_TMP/$sub.vmdk"
done
qemu-img convert -q -f raw -O vmdk -o zeroed_grain=on "$RAW" "$SEED_TMP/zg.vmdk"
qemu-io -f vmdk -c 'write -z 0 64k' "$SEED_TMP/zg.vmdk" >/dev/null
cp "$SEED_TMP/monolithicSparse.vmdk" "$SEED_TMP/streamOptimized.vmdk" "$SEED_TMP/zg.vmdk" \
  "$SEED_TMP/twoGbMaxExtentSparse-s001.vmdk" "$CORPUS/fuzz_vmdk_sparse/"
# A GD_AT_END stream (header, descriptor, one grain, GT, GD, footer, EOS) as VMware writes it.
node -e '
  const fs = require("fs"), zlib = require("zlib");
  const S = 512, sec = (n) => Buffer.alloc(n * S);
  const hdr = (gd) => { const h = sec(1); h.write("KDMV"); h.writeUInt32LE(3, 4); h.writeUInt32LE(0x30001, 8);
    h.writeBigUInt64LE(4096n, 12); h.writeBigUInt64LE(128n, 20); h.writeBigUInt64LE(1n, 28); h.writeBigUInt64LE(1n, 36);
    h.writeUInt32LE(512, 44); h.writeBigUInt64LE(gd, 56); h.writeBigUInt64LE(2n, 64);
    h[73] = 10; h[74] = 32; h[75] = 13; h[76] = 10; h.writeUInt16LE(1, 77); return h; };
  const mk = (val, type) => { const m = sec(1); m.writeBigUInt64LE(BigInt(val)); m.writeUInt32LE(type, 12); return m; };
  const desc = sec(1); desc.write("version=1\nCID=12345678\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\nRDONLY 4096 SPARSE \"s.vmdk\"\n");
  const z = zlib.deflateSync(Buffer.from("grain ".repeat(11000)).subarray(0, 65536));
  const rec = Buffer.alloc(Math.ceil((12 + z.length) / S) * S); rec.writeUInt32LE(z.length, 8); z.copy(rec, 12);
  const grainSec = 2, gtSec = grainSec + rec.length / S + 1, gt = sec(4); gt.writeUInt32LE(grainSec, 0);
  const gdSec = gtSec + 4 + 1, gd = sec(1); gd.writeUInt32LE(gtSec, 0);
  fs.writeFileSync(process.argv[1], Buffer.concat([hdr(0xffffffffffffffffn), desc, rec, mk(4, 1), gt, mk(1, 2), gd,
    mk(1, 3), hdr(BigInt(gdSec)), mk(0, 0)]));' "$CORPUS/fuzz_vmdk_sparse/gd-at-end.vmdk"
for sub in monolithicFlat twoGbMaxExtentFlat twoGbMaxExtentSparse; do
  cp "$SEED_TMP/$sub.vmdk" "$CORPUS/fuzz_vmdk_descriptor/$sub.txt"
done
dd if="$SEED_TMP/monolithicSparse.vmdk" of="$CORPUS/fuzz_vmdk_descriptor/embedded.txt" bs=512 skip=1 count=20 status=none
printf '# Disk DescriptorFile\r\nversion=1\r\nencoding="UTF-8"\r\nCID=fffffffe\r\nparentCID=ffffffff\r\ncreateType="vmfs"\r\nRW 4096 VMFS "a-flat.vmdk"\r\nRDONLY 100 FLAT "b.raw" 7\r\nNOACCESS 8 ZERO\r\nddb.adapterType = "lsilogic"\r\nddb.geometry.cylinders = "1"\r\n' \
  >"$CORPUS/fuzz_vmdk_descriptor/vmfs-crlf.txt"
printf 'version=2\nCID=1\nparentCID=0badf00d\nparentFileNameHint="/abs/base.vmdk"\ncreateType=custom\nRW 16 SPARSE x.vmdk\n' \
  >"$CORPUS/fuzz_vmdk_descriptor/delta.txt"

# Seeds for the other formats' header parsers: qemu-img's own outputs, and an OVA.
for fmt in vpc vhdx vdi qcow2; do
  target=fuzz_$fmt; [ "$fmt" = vpc ] && target=fuzz_vhd
  mkdir -p "$CORPUS/$target"
  qemu-img convert -q -f raw -O $fmt "$RAW" "$CORPUS/$target/seed.$fmt"
done
qemu-img convert -q -f raw -O qcow2 -c "$RAW" "$CORPUS/fuzz_qcow2/seed-zlib.qcow2"
qemu-img convert -q -f raw -O vpc -o subformat=fixed "$RAW" "$CORPUS/fuzz_vhd/seed-fixed.vhd"
# Regression seeds one patch away from the overlap checks (test/hostile-metadata.test.ts holds
# the full set): qcow2 L1 on the refcount table, VHD BAT entries 0 and 1 sharing a block, VDI
# data starting on the block map.
node -e '
  const fs = require("fs"), c = process.argv[1];
  const q = fs.readFileSync(c + "/fuzz_qcow2/seed.qcow2"); q.copy(q, 40, 48, 56);
  fs.writeFileSync(c + "/fuzz_qcow2/seed-l1-on-reftable.qcow2", q);
  const v = fs.readFileSync(c + "/fuzz_vhd/seed.vpc"), bat = Number(v.readBigUInt64BE(512 + 16)); v.copy(v, bat + 4, bat, bat + 4);
  fs.writeFileSync(c + "/fuzz_vhd/seed-bat-shared.vhd", v);
  const d = fs.readFileSync(c + "/fuzz_vdi/seed.vdi"); d.copy(d, 344, 340, 344);
  fs.writeFileSync(c + "/fuzz_vdi/seed-data-on-map.vdi", d);' "$CORPUS"
mkdir -p "$CORPUS/fuzz_ova"
printf '<?xml version="1.0"?><Envelope/>' >"$SEED_TMP/vm.ovf"
(cd "$SEED_TMP" && cp streamOptimized.vmdk disk1.vmdk && tar -cf "$CORPUS/fuzz_ova/seed.ova" vm.ovf disk1.vmdk)

# Seeds for the ESX delta extents: a small COWD and a small SESparse delta (the layouts of
# test/helpers/esx-delta-generator.ts): data, zero and unmapped grains, a partial last grain.
mkdir -p "$CORPUS/fuzz_vmdk_esx"
node -e '
  const fs = require("fs"), S = 512, cap = 4099, d = process.argv[1];
  const fill = (n, v) => Buffer.alloc(n, v);
  const c = Buffer.alloc(37 * S + 3 * 8 * S); c.write("COWD"); [1, 3, cap, 8, 4, 1, 61].forEach((v, i) => c.writeUInt32LE(v, 4 + 4 * i));
  c.writeUInt32LE(5, 4 * S); [[0, 37], [1, 45], [512, 53]].forEach(([g, s]) => { c.writeUInt32LE(s, 5 * S + 4 * g); fill(8 * S, g + 1).copy(c, s * S); });
  fs.writeFileSync(d + "/cowd.vmdk", c.subarray(0, 53 * S + 3 * S));
  const e = Buffer.alloc(69 * S + 2 * 8 * S), w = (v, at) => e.writeBigUInt64LE(BigInt(v), at);
  [[0, 0xcafebaben], [8, 0x200000001n], [16, cap], [24, 8], [32, 64], [80, 1], [88, 1], [128, 4], [136, 1], [144, 5], [152, 64], [192, 69], [200, 16]]
    .forEach(([at, v]) => w(v, at));
  w(0xcafecafen, S); w(0x1000000000000000n, 4 * S);
  [[0, 3n << 60n], [1, 2n << 60n], [2, 1n << 60n], [512, (3n << 60n) | (1n << 48n)]].forEach(([g, v]) => w(v, 5 * S + 8 * g));
  fill(8 * S, 7).copy(e, 69 * S); fill(3 * S, 9).copy(e, 77 * S);
  fs.writeFileSync(d + "/sesparse.vmdk", e.subarray(0, 80 * S));' "$CORPUS/fuzz_vmdk_esx"

# ---- run ----
status=0
for t in "${TARGETS[@]}"; do
  mkdir -p "$CORPUS/crashes/$t" "$CORPUS/work/$t"
  echo "== $t for ${SECONDS_EACH}s"
  log="$CORPUS/$t.log"
  set +e
  "$BUILD/$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=1048576 -print_final_stats=1 \
    -artifact_prefix="$CORPUS/crashes/$t/" "$CORPUS/work/$t" "$CORPUS/$t" >"$log" 2>&1
  rc=$?
  set -e
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^Done [0-9]+ runs' "$log" || true
  grep -E 'cov: [0-9]+' "$log" | tail -1 || true
  if [ $rc -ne 0 ]; then
    echo "$t: FINDING (exit $rc); see $log and $CORPUS/crashes/$t/" >&2
    grep -E 'ERROR: |SUMMARY: ' "$log" | head -5 >&2 || true
    status=1
  fi
done
exit $status
