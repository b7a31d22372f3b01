#!/usr/bin/env node
// h2k vs qemu-img for the formats of issue 8, timed in the same run on the same seeded disk:
//   VHDX -> qcow2            h2k-native convert   vs  qemu-img convert -f vhdx
//   OVA (stream VMDK) -> qcow2  h2k reads the disk in place inside the tar (and verifies the
//                            .mf SHA-256 first)  vs  the usual `tar -xf` + qemu-img convert
//                            (which needs scratch space for the extracted disk and does not
//                            check the manifest).
// qemu-img's output is fsync'ed inside its timing (h2k fsyncs before returning). Every output
// is checked with `qemu-img compare` against the raw source. Writes bench/results/formats.json.
//
//   node bench/formats.js [--size-mib 512] [--repeat 1]     (H2K_NATIVE_TOOL overrides the tool)
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, fsyncSync, mkdirSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine } from './lib/measure.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const work = join(here, 'work', 'formats');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const sizeMiB = Number(opt('size-mib', '512'));
const repeat = Math.max(1, Number(opt('repeat', '1')));

function nativeTool() {
  const candidates = [process.env.H2K_NATIVE_TOOL, join(repo, 'build/h2k-native'), join(repo, 'build/Release/h2k-native')];
  const found = candidates.find((p) => p && existsSync(p));
  if (!found) throw new Error(`h2k-native not found (${candidates.filter(Boolean).join(', ')}); run npm run build`);
  return found;
}

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function fsyncFile(path) {
  const fd = openSync(path, 'r');
  fsyncSync(fd);
  closeSync(fd);
}

/** Wall time of fn (best of `repeat`), plus peak RSS of the timed child when /usr/bin/time exists. */
function time(fn) {
  let best = Infinity;
  for (let i = 0; i < repeat; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return best;
}

function compareRaw(raw, image, fmt) {
  const r = spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', fmt, raw, image], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`output ${image} differs from the source: ${r.stdout}${r.stderr}`);
}

function writeUstar(out, entries) {
  // tar(1) writes the archive; --format=ustar and the member order (.ovf, .mf, disk) as OVAs have.
  run('tar', ['--format=ustar', '-C', work, '-cf', out, ...entries]);
}

async function sha256(path) {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(c);
  return h.digest('hex');
}

async function main() {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  mkdirSync(join(here, 'results'), { recursive: true });
  const tool = nativeTool();
  const raw = join(work, 'src.raw');
  run(process.execPath, [join(repo, 'scripts/make-seeded-raw.js'), raw, String(sizeMiB), '20261123']);
  const results = { ...machine(), sizeMiB, repeat, cases: [] };

  // ---- VHDX -> qcow2 ----
  const vhdx = join(work, 'disk.vhdx');
  run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vhdx', raw, vhdx]);
  for (const compression of ['none', 'zstd']) {
    const ours = join(work, `vhdx-h2k-${compression}.qcow2`);
    const theirs = join(work, `vhdx-qemu-${compression}.qcow2`);
    const h2k = time(() => run(tool, ['convert', vhdx, ours, 'qcow2', compression, '0', '65536']));
    const qemu = time(() => {
      rmSync(theirs, { force: true });
      run('qemu-img', ['convert', '-q', '-f', 'vhdx', '-O', 'qcow2', ...(compression === 'none' ? [] : ['-c', '-o', `compression_type=${compression}`]), vhdx, theirs]);
      fsyncFile(theirs);
    });
    compareRaw(raw, ours, 'qcow2');
    compareRaw(raw, theirs, 'qcow2');
    results.cases.push({
      case: `VHDX -> qcow2 (${compression})`,
      h2kSeconds: h2k,
      qemuSeconds: qemu,
      speedup: qemu / h2k,
      h2kOutputBytes: statSync(ours).size,
      qemuOutputBytes: statSync(theirs).size,
      scratchBytes: 0,
    });
  }

  // ---- OVA (streamOptimized VMDK + .ovf + .mf) -> qcow2 ----
  const vmdk = join(work, 'disk1.vmdk');
  run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, vmdk]);
  const ovf = join(work, 'vm.ovf');
  writeFileSync(ovf, `<?xml version="1.0"?>\n<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><References><File ovf:id="file1" ovf:href="disk1.vmdk"/></References><DiskSection><Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="${sizeMiB}" ovf:capacityAllocationUnits="byte * 2^20"/></DiskSection><VirtualSystem ovf:id="bench"><Name>bench</Name></VirtualSystem></Envelope>\n`);
  writeFileSync(join(work, 'vm.mf'), `SHA256(vm.ovf)= ${await sha256(ovf)}\nSHA256(disk1.vmdk)= ${await sha256(vmdk)}\n`);
  const ova = join(work, 'vm.ova');
  writeUstar(ova, ['vm.ovf', 'vm.mf', 'disk1.vmdk']);
  rmSync(vmdk);
  const extractDir = join(work, 'extract');
  for (const compression of ['none', 'zstd']) {
    const ours = join(work, `ova-h2k-${compression}.qcow2`);
    const theirs = join(work, `ova-qemu-${compression}.qcow2`);
    const h2k = time(() => run(tool, ['convert', ova, ours, 'qcow2', compression, '0', '65536']));
    let scratch = 0;
    const qemu = time(() => {
      rmSync(extractDir, { recursive: true, force: true });
      mkdirSync(extractDir);
      run('tar', ['-C', extractDir, '-xf', ova, 'disk1.vmdk']);
      scratch = statSync(join(extractDir, 'disk1.vmdk')).size;
      rmSync(theirs, { force: true });
      run('qemu-img', ['convert', '-q', '-f', 'vmdk', '-O', 'qcow2', ...(compression === 'none' ? [] : ['-c', '-o', `compression_type=${compression}`]), join(extractDir, 'disk1.vmdk'), theirs]);
      fsyncFile(theirs);
      rmSync(extractDir, { recursive: true, force: true });
    });
    compareRaw(raw, ours, 'qcow2');
    compareRaw(raw, theirs, 'qcow2');
    results.cases.push({
      case: `OVA -> qcow2 (${compression})`,
      h2kSeconds: h2k,
      qemuSeconds: qemu,
      speedup: qemu / h2k,
      h2kOutputBytes: statSync(ours).size,
      qemuOutputBytes: statSync(theirs).size,
      scratchBytes: scratch,
      note: 'h2k: in place + .mf SHA-256 verified; qemu: tar -xf to scratch + convert (no digest check)',
    });
  }

  results.summary = results.cases.map((c) => ({
    work: `${sizeMiB} MiB ${c.case} (engine alone, best of ${repeat})`, h2k: `${c.h2kSeconds.toFixed(2)} s`,
    peer: `${c.case.startsWith('OVA') ? 'tar -xf + ' : ''}qemu-img + fsync ${c.qemuSeconds.toFixed(2)} s`,
    ratio: `${(c.h2kSeconds / c.qemuSeconds).toFixed(2)}×`, target: 'shown',
  }));
  writeFileSync(join(here, 'results', 'formats.json'), JSON.stringify(results, null, 2) + '\n');
  const rows = results.cases.map(
    (c) => `| ${c.case} | ${c.h2kSeconds.toFixed(2)} s | ${c.qemuSeconds.toFixed(2)} s | ${c.speedup.toFixed(2)}x | ${(c.scratchBytes / 2 ** 20).toFixed(0)} MiB |`,
  );
  console.log(`${sizeMiB} MiB seeded disk, ${results.cpus} CPUs, best of ${repeat}\n`);
  console.log('| case | h2k | qemu-img | qemu/h2k | qemu scratch |\n|---|---|---|---|---|\n' + rows.join('\n'));
  rmSync(work, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
