// A loose .ovf dropped into the watch folder with its disks and .mf: one job that carries them all,
// whichever arrives first; every disk converted in controller order (qemu-img compare), every file
// archived; a disk that fails its .mf digest fails the job with nothing left in the output; an
// href that is a link out of the folder is refused without its target ever being opened (strace).
import { describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, readdirSync, readFileSync, realpathSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { compareImages, makeSeededRaw, qemuImg, toVmdk } from './helpers/fixtures.js';
import { daemonTestScope, type DaemonHarness, type LogEvent } from './helpers/daemon-harness.js';
import { manifestFor } from './helpers/formats-fixtures.js';
import { vmwareOvf } from './helpers/ovf-samples.js';
import { localDate } from '../src/util/local-date.js';

const { fx, start: startTracked } = daemonTestScope('daemon-ovf-fx');

interface LooseVm {
  /** file name -> where its bytes are (fixture dir) */
  files: { ovf: string; mf: string; disks: string[] };
  raws: string[];
}

/** A 2-disk loose OVF: a stream-optimized VMDK on SCSI 0:0 and a VHD on SCSI 0:1, its .mf beside it. */
function looseVm(name: string, seed: number, tamper = false): LooseVm {
  const raws = [1, 2].map((i) => makeSeededRaw(join(fx.dir, `${name}-${i}.raw`), 1 + i, seed + i));
  const d1 = toVmdk(raws[0], join(fx.dir, `${name}-sys.vmdk`), 'streamOptimized');
  const d2 = join(fx.dir, `${name}-data.vhd`);
  qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vpc', raws[1], d2]);
  const ovfText = vmwareOvf({
    name,
    vcpus: 1,
    memoryMiB: 512,
    disks: [
      { href: `${name}-data.vhd`, capacityBytes: statSync(raws[1]).size, controller: 'scsi', unit: 1 },
      { href: `${name}-sys.vmdk`, capacityBytes: statSync(raws[0]).size, controller: 'scsi', unit: 0 },
    ],
    nics: [],
  });
  const ovf = join(fx.dir, `${name}.ovf`);
  writeFileSync(ovf, ovfText);
  const mf = join(fx.dir, `${name}.mf`);
  writeFileSync(mf, manifestFor([{ name: `${name}.ovf`, path: ovf }, { name: `${name}-sys.vmdk`, path: d1 }, { name: `${name}-data.vhd`, path: d2 }]));
  if (tamper) {
    const bytes = readFileSync(d2);
    bytes[1000] ^= 0xff; // after the .mf was written: damaged in transit
    writeFileSync(d2, bytes);
  }
  return { files: { ovf, mf, disks: [d1, d2] }, raws };
}

/** Copies a fixture in under its own name: written aside, then renamed in (one event, complete). */
function drop(h: DaemonHarness, from: string): string {
  const name = from.slice(fx.dir.length + 1);
  const staged = join(h.root, `staging-${name}`);
  copyFileSync(from, staged);
  const to = join(h.watchDir, name);
  renameSync(staged, to);
  return to;
}

// the daemon resolves watch_dir (realpath): compare by name
const byFile = (path: string) => (e: LogEvent) => String(e.file).endsWith(`/${basename(path)}`);

function expectConverted(h: DaemonHarness, name: string, raws: string[]): void {
  const dir = join(h.outputDir, localDate(), name);
  // controller order: SCSI 0:0 (the VMDK, raw 1), then SCSI 0:1 (the VHD, raw 2)
  raws.forEach((raw, i) => expect(compareImages(raw, join(dir, `${name}-disk${i + 1}.qcow2`), 'raw', 'qcow2').code, `disk ${i + 1}`).toBe(0));
  const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
  expect(report.source.files).toEqual([`${name}.ovf`, `${name}-sys.vmdk`, `${name}-data.vhd`, `${name}.mf`]);
  expect(report.disks).toHaveLength(2);
  const processed = readdirSync(join(h.watchDir, '.processed', localDate()));
  for (const f of report.source.files) {
    expect(processed, f).toContain(f);
    expect(existsSync(join(h.watchDir, f)), f).toBe(false);
  }
}

describe('watch folder: loose .ovf with its disks', () => {
  it('one job whichever comes first: disks (already settled) then the .ovf, or the .ovf then the disks', { timeout: 60_000 }, async () => {
    // 1 s to settle, and 1 s of grace in which a settled disk waits for an .ovf to claim it
    const h = await startTracked({ config: { file_stable_timeout: 1 } });

    // Disks first: both settle (a stream-optimized VMDK is an image of its own) before the .ovf is there.
    const early = looseVm('early', 10);
    const disks = early.files.disks.map((d) => drop(h, d));
    for (const d of disks) await h.waitForEvent('file_stable', byFile(d));
    drop(h, early.files.mf);
    const earlyOvf = drop(h, early.files.ovf);
    await h.waitForEvent('job_succeeded', byFile(earlyOvf));
    expectConverted(h, 'early', early.raws);

    // The .ovf first: it waits for its disks; the .mf arriving later joins the same job.
    const late = looseVm('late', 20);
    const lateOvf = drop(h, late.files.ovf);
    await h.waitForEvent('waiting_extents', byFile(lateOvf));
    drop(h, late.files.mf);
    for (const d of late.files.disks) drop(h, d);
    await h.waitForEvent('job_succeeded', byFile(lateOvf));
    expectConverted(h, 'late', late.raws);

    // No disk ever became a job of its own.
    expect(h.events.filter((e) => e.event === 'job_started').map((e) => basename(String(e.file)))).toEqual(['early.ovf', 'late.ovf']);
    expect(h.count('job_failed') + h.count('drop_refused')).toBe(0);
  });

  it('a split VMDK (descriptor + flat extent) named by an .ovf is one of its disks: one job, one output', { timeout: 60_000 }, async () => {
    const h = await startTracked({ config: { file_stable_timeout: 1 } });
    const raw = makeSeededRaw(join(fx.dir, 'splitvm.raw'), 2, 60);
    toVmdk(raw, join(fx.dir, 'splitvm-d.vmdk'), 'monolithicFlat');
    const ovfFixture = join(fx.dir, 'splitvm.ovf');
    writeFileSync(ovfFixture, vmwareOvf({ name: 'splitvm', vcpus: 1, memoryMiB: 512, disks: [{ href: 'splitvm-d.vmdk', capacityBytes: 2 << 20, controller: 'scsi', unit: 0 }], nics: [] }));
    // The VMDK's own group completes first; the .ovf comes within the grace and takes it over.
    const flat = drop(h, join(fx.dir, 'splitvm-d-flat.vmdk'));
    const desc = drop(h, join(fx.dir, 'splitvm-d.vmdk'));
    for (const f of [flat, desc]) await h.waitForEvent('file_stable', byFile(f));
    const ovf = drop(h, ovfFixture);
    await h.waitForEvent('job_succeeded', byFile(ovf));
    const dir = join(h.outputDir, localDate(), 'splitvm');
    expect(compareImages(raw, join(dir, 'splitvm.qcow2'), 'raw', 'qcow2').code).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    expect(report.source.files).toEqual(['splitvm.ovf', 'splitvm-d.vmdk', 'splitvm-d-flat.vmdk']);
    expect(h.count('job_started')).toBe(1);
  });

  it('an .ovf too late for its disks, or a .mf alone, is refused (never waits forever); the disk converted alone stays converted', { timeout: 60_000 }, async () => {
    const h = await startTracked({ config: { extent_wait_timeout: 2 } });
    const tardy = looseVm('tardy', 50);
    const disks = tardy.files.disks.map((d) => drop(h, d));
    for (const d of disks) await h.waitForEvent('job_succeeded', byFile(d));
    const ovf = drop(h, tardy.files.ovf);
    const refused = await h.waitForEvent('drop_refused', byFile(ovf));
    // still queued (E_DROP_ORDER) or already converted and archived (E_NOT_FOUND after extent_wait_timeout)
    expect(['E_DROP_ORDER', 'E_NOT_FOUND']).toContain(refused.code);
    expect(existsSync(join(h.watchDir, '.errors', 'tardy.ovf.error.json'))).toBe(true);

    writeFileSync(join(h.watchDir, 'stray.mf'), 'SHA256(stray.ovf)= 00\n');
    const stray = await h.waitForEvent('drop_refused', byFile(join(h.watchDir, 'stray.mf')));
    expect(stray).toMatchObject({ code: 'E_DROP_ORDER', msg: expect.stringContaining('stray.mf is an OVF manifest and no stray.ovf beside it claimed it') });
    expect(h.count('job_started')).toBe(2);
  });

  it('a disk that fails the .mf digest fails the VM: E_OVA_DIGEST_MISMATCH, no output, every file in .errors/', { timeout: 60_000 }, async () => {
    const h = await startTracked();
    const bad = looseVm('bad', 30, true);
    const ovf = drop(h, bad.files.ovf);
    drop(h, bad.files.mf);
    for (const d of bad.files.disks) drop(h, d);
    const failed = await h.waitForEvent('job_failed', byFile(ovf));
    expect(failed.code).toBe('E_OVA_DIGEST_MISMATCH');
    const errors = join(h.watchDir, '.errors');
    const record = JSON.parse(readFileSync(join(errors, 'bad.ovf.error.json'), 'utf8'));
    expect(record).toMatchObject({ code: 'E_OVA_DIGEST_MISMATCH', filename: 'bad.ovf' });
    expect(record.error).toMatch(/^SHA256 of bad-data\.vhd is [0-9a-f]{64} but bad\.mf says [0-9a-f]{64}$/);
    for (const f of ['bad.ovf', 'bad.mf', 'bad-sys.vmdk', 'bad-data.vhd']) expect(existsSync(join(errors, f)), f).toBe(true);
    const vmDir = join(h.outputDir, localDate(), 'bad');
    const left = existsSync(vmDir) ? readdirSync(vmDir) : [];
    expect(left.filter((f) => f.endsWith('.qcow2') || f.endsWith('.partial') || f === 'report.json')).toEqual([]);
  });

  it('an href that is a link out of the folder, or a path out of it, refuses the .ovf; the target is never opened', { timeout: 60_000 }, async () => {
    const straceLog = join(fx.dir, 'strace.log');
    const h = await startTracked({
      wrap: ['strace', '-f', '-qq', '--seccomp-bpf', '-y', '-s', '4096', '-e', 'trace=open,openat,openat2', '-o', straceLog],
    });
    const bait = join(h.root, 'bait.vmdk');
    copyFileSync(looseVm('baitsrc', 40).files.disks[0], bait);
    const ovfNaming = (name: string, href: string) => {
      const path = join(h.watchDir, `${name}.ovf`);
      writeFileSync(path, vmwareOvf({ name, vcpus: 1, memoryMiB: 512, disks: [{ href, capacityBytes: 2 << 20, controller: 'scsi', unit: 0 }], nics: [] }));
      return path;
    };
    // .bin is no watched extension: only the .ovf's own check of its href can refuse the link.
    symlinkSync(bait, join(h.watchDir, 'linked-disk1.bin'));
    const linked = ovfNaming('linked', 'linked-disk1.bin');
    const escaping = ovfNaming('escaping', '../bait.vmdk');
    const refusedLinked = await h.waitForEvent('drop_refused', byFile(linked));
    const refusedEscaping = await h.waitForEvent('drop_refused', byFile(escaping));
    expect(refusedLinked.code).toBe('E_UNSAFE_DROP');
    expect(refusedEscaping.code).toBe('E_PATH_ESCAPE');
    const errors = join(h.watchDir, '.errors');
    expect(JSON.parse(readFileSync(join(errors, 'linked.ovf.error.json'), 'utf8')).error).toBe(
      `file linked-disk1.bin named by linked.ovf is a symbolic link (to '${bait}'); the daemon never follows links`,
    );
    expect(JSON.parse(readFileSync(join(errors, 'escaping.ovf.error.json'), 'utf8')).error).toBe("escaping.ovf names file '../bait.vmdk', which is not a file next to it");
    // the link went with its .ovf, as itself
    expect(existsSync(join(errors, 'linked-disk1.bin'))).toBe(true);
    await h.shutdown();
    const opens = readFileSync(straceLog, 'utf8');
    expect(opens).toMatch(/open(at2?)?\(.*linked\.ovf/); // the trace did record the daemon's opens
    expect(opens.split('\n').filter((l) => l.includes(realpathSync(bait)) || l.includes('bait.vmdk'))).toEqual([]);
    expect(h.count('job_started')).toBe(0);
  });
});
