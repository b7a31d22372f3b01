// Runs one VM's pipeline and reports every stage. Execution order: load, convert, (content
// check), inspect, fix, validate. Fixes change the converted output, never the source, so the
// content hash is compared right after conversion, before any fix touches the output.
// A multi-disk VM (source_type ova/ovf) converts every disk, in controller order, to its own
// output and writes a libvirt domain XML beside them; inspect, fix and boot_test work on the
// boot disk (disk 1), the content check and qemu-img check on every disk.
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { convertImage } from '../convert/convert-image.js';
import { convertLooseDisk } from '../ovf/import-ovf.js';
import type { Compression, ConvertProgress, ConvertResult, HashAlgorithm } from '../convert/types.js';
import { bootTest, fixImage, inspectImage } from '../guest/index.js';
import { hashContent } from '../hash/hash-file.js';
import { H2kError, toH2kError } from '../util/errors.js';
import type { JobJournal } from './job-journal.js';
import { writeLibvirtXml } from './libvirt-output.js';
import type { ManifestVm } from './manifest-loader.js';
import { STAGE_NAMES, type Pipeline, type StageName } from './manifest-schema.js';
import { assertOutputInside, multiDiskOutputs } from './output-path.js';
import { qemuImgCheck } from './qemu-img-check.js';
import { reportedError, secondsBetween, type DiskArtifacts, type StageReport, type VmArtifacts, type VmReport } from './report.js';
import { isOvfSourceType, probeSource, type SourceDisk, type SourceProbe } from './source-probe.js';
import { virtXmlValidate } from './virt-xml-validate.js';

/** Hash used to compare source and output content: fast, 128-bit. */
const CONTENT_HASH: HashAlgorithm = 'xxh128';
const BOOT_DISK_NOTE = 'boot disk: disk 1 in controller order';

export interface VmRunContext {
  manifestFile: string;
  outputDir: string;
  /** manifest_source_root: the VM's source must lie beneath it and is opened beneath it. */
  sourceRoot?: string;
  signal?: AbortSignal;
  /** Compression threads for this VM's conversion. */
  threads?: number;
  journal?: JobJournal;
  onProgress?: (vm: string, progress: ConvertProgress) => void;
  onStage?: (vm: string, stage: StageName) => void;
}

export interface ValidationCheck {
  name: string;
  passed: boolean | null;
  detail: string;
}

interface DiskJob {
  disk: SourceDisk;
  output: string;
  result?: ConvertResult;
  hashes: DiskArtifacts['hashes'];
}

function bootTestSettings(p: Pipeline): { enabled: boolean; timeoutSeconds: number } {
  const b = p.validate?.boot_test;
  if (b === true) return { enabled: true, timeoutSeconds: 300 };
  if (b && typeof b === 'object') return { enabled: b.enabled, timeoutSeconds: b.timeout_seconds };
  return { enabled: false, timeoutSeconds: 0 };
}

function included(p: Pipeline, stage: StageName): boolean | 'absent' {
  switch (stage) {
    case 'load': return true;
    case 'convert': return p.convert ? true : 'absent';
    default: {
      const s = p[stage];
      return s ? s.enabled : 'absent';
    }
  }
}

function initialStages(p: Pipeline): Record<StageName, StageReport> {
  const stages = {} as Record<StageName, StageReport>;
  for (const name of STAGE_NAMES) {
    const inc = included(p, name);
    stages[name] = inc === true ? { status: 'not_run' } : { status: 'skipped', reason: inc === 'absent' ? 'not in manifest' : 'disabled' };
  }
  return stages;
}

function compressionOf(c: NonNullable<Pipeline['convert']>['compress']): Compression {
  return c === true ? 'zlib' : c === false ? 'none' : c;
}

const secondsSince = (t: number) => Math.round((Date.now() - t) / 10) / 100;

function loadReport(p: Pipeline, vm: ManifestVm, probe: SourceProbe, seconds: number): StageReport {
  const report: StageReport = {
    status: 'success',
    duration_seconds: seconds,
    source_type: p.load.source_type,
    source_path: vm.sourcePath,
    detected_format: probe.detectedFormat,
    subformat: probe.subformat,
    virtual_size: probe.virtualSize,
    files: probe.files,
    warnings: probe.warnings,
  };
  if (probe.ovfVm) {
    const o = probe.ovfVm;
    report.vm = { name: o.name, vcpus: o.vcpus, memory_bytes: o.memoryBytes, firmware: o.firmware, nics: o.nics.length };
    report.disks = probe.disks.map((d, i) => ({
      disk: i + 1, href: d.ovf?.href, controller: d.ovf?.controller, unit: d.ovf?.unit, source: d.source,
      detected_format: d.detectedFormat, subformat: d.subformat, virtual_size: d.virtualSize,
    }));
  }
  return report;
}

export async function runVmPipeline(vm: ManifestVm, ctx: VmRunContext): Promise<VmReport> {
  const started = new Date();
  const p = vm.pipeline;
  const multiDisk = isOvfSourceType(p.load.source_type);
  const stages = initialStages(p);
  const artifacts: VmArtifacts = { input: vm.sourcePath, output: null, hashes: {} };
  const checks: ValidationCheck[] = [];
  const validateEnabled = included(p, 'validate') === true;
  const created: string[] = [];
  let current = 'load' as StageName; // set through enter(): keep the wide type
  let failure: H2kError | undefined;
  // The validate stage runs in two parts (the content check right after convert, the rest after
  // fix): its duration is the sum of the two, never the fix's time in between.
  let validateMs = 0;
  const enter = (stage: StageName) => {
    current = stage;
    ctx.onStage?.(vm.name, stage);
  };
  /** Files this run is about to create: journalled first, so a crash or a failure removes them. */
  const willCreate = async (path: string) => {
    await ctx.journal?.recordOutput(path);
    created.push(path);
  };

  try {
    enter('load');
    let t = Date.now();
    // A disk's .mf digest (OVA member, or beside a loose OVF) is checked by the conversion from its
    // own reads: the disk is read once.
    const probe = await probeSource(vm.sourcePath, p.load.source_type, `${vm.fieldPrefix}.load.source_path`, { deferDigests: Boolean(p.convert), ...(ctx.sourceRoot ? { sourceRoot: ctx.sourceRoot } : {}) });
    stages.load = loadReport(p, vm, probe, secondsSince(t));

    const jobs: DiskJob[] = [];
    let libvirtXml: string | undefined;
    if (p.convert && vm.outputPath) {
      enter('convert');
      t = Date.now();
      const field = `${vm.fieldPrefix}.convert.output_path`;
      const planned = multiDisk ? multiDiskOutputs(vm.outputPath, p.convert.output_format, probe.disks.length) : undefined;
      probe.disks.forEach((disk, i) => jobs.push({ disk, output: planned ? planned.disks[i] : vm.outputPath!, hashes: {} }));
      const outputs = [...jobs.map((j) => j.output), ...(planned ? [planned.libvirtXml] : [])];
      for (const output of outputs) {
        await assertOutputInside(ctx.manifestFile, ctx.outputDir, output, field);
        if (!p.convert.overwrite && existsSync(output))
          throw new H2kError(`${field}: output already exists: ${output}`, {
            code: 'E_OUTPUT_EXISTS', file: output, hint: 'remove it, choose another output_path, or set convert.overwrite: true',
          });
      }
      await mkdir(dirname(vm.outputPath), { recursive: true });
      // Progress over the whole VM: the disks convert one after another.
      let doneBefore = 0;
      for (const job of jobs) {
        await willCreate(job.output);
        const request = {
          source: job.disk.source,
          output: job.output,
          outputFormat: p.convert.output_format,
          compression: compressionOf(p.convert.compress),
          sourceFormat: job.disk.engineFormat,
          ...(job.disk.root ? { sourceRoot: job.disk.root } : {}),
          force: p.convert.overwrite,
          threads: ctx.threads,
          hashAlgorithms: validateEnabled ? [CONTENT_HASH] : [],
        };
        const options = {
          signal: ctx.signal,
          onProgress: (pr: ConvertProgress) =>
            ctx.onProgress?.(vm.name, { ...pr, bytesDone: doneBefore + pr.bytesDone, bytesTotal: probe.virtualSize }),
        };
        // A loose OVF's disk: its .mf digest is checked from this conversion's reads of it.
        const md = job.disk.manifestDigest;
        const r = md ? await convertLooseDisk(request, options, md.digest, md.mfName) : await convertImage(request, options);
        doneBefore += r.virtualSize;
        job.result = r;
        if (Object.keys(r.sourceHashes).length > 0) job.hashes.source_file = r.sourceHashes;
        if (Object.keys(r.contentHashes).length > 0) job.hashes.source_content = r.contentHashes;
      }
      if (planned && probe.ovfVm) {
        libvirtXml = planned.libvirtXml;
        await willCreate(libvirtXml);
        await writeLibvirtXml(libvirtXml, probe.ovfVm, jobs.map((j) => ({ path: j.output, format: p.convert!.output_format })), p.convert.overwrite);
      }
      const results = jobs.map((j) => j.result!);
      const boot = results[0];
      stages.convert = {
        status: 'success',
        duration_seconds: secondsSince(t),
        output_file: boot.output,
        output_format: boot.outputFormat,
        bytes: results.reduce((a, r) => a + r.outputBytes, 0),
        compression: boot.compression,
        duration: Math.round(results.reduce((a, r) => a + r.seconds, 0) * 1000) / 1000,
        virtual_size: results.reduce((a, r) => a + r.virtualSize, 0),
        data_bytes: results.reduce((a, r) => a + r.dataBytes, 0),
        ...(multiDisk
          ? {
              disks: results.map((r, i) => ({
                disk: i + 1, source: r.source, output_file: r.output, bytes: r.outputBytes, duration: r.seconds,
                virtual_size: r.virtualSize, data_bytes: r.dataBytes,
              })),
              libvirt_xml: libvirtXml,
            }
          : {}),
      };
      artifacts.output = boot.output;
      artifacts.hashes = jobs[0].hashes;
      if (multiDisk) {
        artifacts.disks = jobs.map((j, i) => ({ disk: i + 1, input: j.disk.source, output: j.output, hashes: j.hashes }));
        artifacts.libvirt_xml = libvirtXml ?? null;
      }

      if (validateEnabled) {
        enter('validate');
        const v0 = Date.now();
        for (const [i, job] of jobs.entries()) await checkContent(job, multiDisk ? `disk ${i + 1}: ` : '', ctx.signal, checks);
        validateMs += Date.now() - v0;
      }
    }

    const bootImage = artifacts.output ?? vm.sourcePath;
    const bootNote = multiDisk ? { disk: 1, applies_to: BOOT_DISK_NOTE } : {};
    if (included(p, 'inspect') === true) {
      enter('inspect');
      t = Date.now();
      const target = artifacts.output ?? probe.disks[0].source;
      if (!artifacts.output && p.load.source_type === 'ova')
        throw new H2kError('inspect needs a convert stage for an OVA source: libguestfs cannot open a disk inside the archive', {
          code: 'E_UNSUPPORTED', file: vm.sourcePath, hint: 'add a convert stage; inspect then reads the converted boot disk',
        });
      const os = await inspectImage(target, { signal: ctx.signal });
      stages.inspect = { status: 'success', duration_seconds: secondsSince(t), image: target, ...bootNote, detect_os: p.inspect?.detect_os, os_detected: os ?? null };
    }

    if (included(p, 'fix') === true && p.fix && artifacts.output) {
      enter('fix');
      t = Date.now();
      const fixed = await fixImage(artifacts.output, {
        fstab: { enabled: p.fix.fstab.enabled, mode: p.fix.fstab.mode },
        grub: { enabled: p.fix.grub.enabled },
        initramfs: { enabled: p.fix.initramfs.enabled, regenerate: p.fix.initramfs.regenerate },
        network: { enabled: p.fix.network.enabled, fixLevel: p.fix.network.fix_level },
        removeVmwareTools: p.fix.remove_vmware_tools,
        virtioWin: p.fix.windows.enabled ? vm.virtioWin : undefined,
        dryRun: false,
        signal: ctx.signal,
      });
      if (fixed.failed.length > 0)
        throw new H2kError(`fixes could not be applied: ${fixed.failed.join('; ')}`, {
          code: 'E_GUEST_FIX_FAILED', file: artifacts.output, hint: fixed.warnings.join('; ') || undefined,
        });
      stages.fix = { status: 'success', duration_seconds: secondsSince(t), image: bootImage, ...bootNote, fixes_applied: fixed.changes, ...(fixed.registry ? { registry_changes: fixed.registry } : {}), warnings: fixed.warnings };
      // The fix changed the boot disk: the output hash the report gives is the final file's; the
      // hash that matched the source is kept as converted_content.
      const boot = jobs[0];
      if (boot?.hashes.output_content) {
        boot.hashes.converted_content = boot.hashes.output_content;
        boot.hashes.output_content = await hashContent(artifacts.output, [CONTENT_HASH], { signal: ctx.signal, format: boot.result!.outputFormat });
      }
    }

    if (validateEnabled && jobs.length > 0) {
      enter('validate');
      const v1 = Date.now();
      for (const [i, job] of jobs.entries()) {
        const r = job.result!;
        const check = await qemuImgCheck(r.output, r.outputFormat, ctx.signal);
        checks.push({ name: multiDisk ? `qemu_img_check disk ${i + 1}` : 'qemu_img_check', passed: check.ran ? check.passed : null, detail: check.detail });
        if (check.ran && !check.passed)
          throw new H2kError(`qemu-img check found problems in ${r.output}: ${check.detail}`, { code: 'E_VALIDATE_CHECK', file: r.output });
      }
      if (libvirtXml) {
        const v = await virtXmlValidate(libvirtXml, ctx.signal);
        checks.push({ name: 'libvirt_xml', passed: v.ran ? v.passed : null, detail: v.detail });
        if (v.ran && !v.passed)
          throw new H2kError(`the libvirt domain XML does not validate: ${v.detail}`, { code: 'E_VALIDATE_CHECK', file: libvirtXml });
      }
      const boot = bootTestSettings(p);
      if (boot.enabled) {
        const b = await bootTest(artifacts.output!, { timeoutSeconds: boot.timeoutSeconds, signal: ctx.signal });
        checks.push({
          name: 'boot_test', passed: b.passed,
          detail: `${b.passed ? 'booted' : 'did not boot'} in ${b.seconds}s (${b.accel}, ${b.mode})${multiDisk ? `, ${BOOT_DISK_NOTE}` : ''}: ${b.reason}`,
        });
        if (!b.passed) throw new H2kError(`boot test failed after ${b.seconds}s: ${b.reason}`, { code: 'E_BOOT_TEST', file: artifacts.output!, hint: `console log: ${b.consoleLog}` });
      }
      validateMs += Date.now() - v1;
      stages.validate = { status: 'success', duration_seconds: Math.round(validateMs / 10) / 100, checks };
    }
  } catch (err) {
    failure = toH2kError(err);
    stages[current] = {
      ...(current === 'validate' ? { checks } : {}),
      status: 'failed',
      error: reportedError(failure),
    };
    // A failed VM leaves no output behind: a file there would look finished.
    for (const f of created) {
      await rm(f, { force: true });
      await rm(`${f}.partial`, { force: true });
    }
    if (created.length > 0) {
      artifacts.output = null;
      if (artifacts.disks) for (const d of artifacts.disks) d.output = null;
      if (artifacts.libvirt_xml) artifacts.libvirt_xml = null;
    }
  }

  const completed = new Date();
  const report: VmReport = {
    name: vm.name,
    status: failure ? 'failed' : 'completed',
    ...(failure ? { failed_stage: current, error: reportedError(failure) } : {}),
    started_at: started.toISOString(),
    completed_at: completed.toISOString(),
    duration_seconds: secondsBetween(started, completed),
    stages,
    artifacts,
  };
  if (failure) thrown.set(report, failure);
  return report;
}

// The error a failed VM threw, with its stack, kept beside (not in) the JSON report.
const thrown = new WeakMap<VmReport, H2kError>();

/** What a failed VM's pipeline threw (for the error record's stack). */
export function vmFailureError(report: VmReport): H2kError | undefined {
  return thrown.get(report);
}

/** Re-reads one output through h2k's reader and compares its content hash with the source's. */
async function checkContent(job: DiskJob, label: string, signal: AbortSignal | undefined, checks: ValidationCheck[]): Promise<void> {
  const r = job.result!;
  // The engine hashes the source content while converting when it can; otherwise the source is
  // read once more, on its own, through its reader.
  let expected = r.contentHashes[CONTENT_HASH];
  if (!expected) {
    expected = (await hashContent(job.disk.source, [CONTENT_HASH], { signal, format: job.disk.engineFormat, ...(job.disk.root ? { sourceRoot: job.disk.root } : {}) }))[CONTENT_HASH];
    job.hashes.source_content = { [CONTENT_HASH]: expected };
  }
  const actual = (await hashContent(r.output, [CONTENT_HASH], { signal, format: r.outputFormat }))[CONTENT_HASH];
  job.hashes.output_content = { [CONTENT_HASH]: actual };
  const same = actual === expected;
  checks.push({ name: label ? `content_hash ${label.slice(0, -2)}` : 'content_hash', passed: same, detail: `${label}${CONTENT_HASH} source ${expected}, output ${actual ?? '(none)'}` });
  if (!same)
    throw new H2kError(`${label}output content differs from the source (${CONTENT_HASH} ${expected} vs ${actual})`, {
      code: 'E_VALIDATE_MISMATCH', file: r.output, hint: 'the output was removed; rerun the manifest, and report a bug if it repeats',
    });
}
