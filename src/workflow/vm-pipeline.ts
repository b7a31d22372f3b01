// Runs one VM's pipeline and reports every stage. Execution order: load, convert, (content
// check), inspect, fix, validate. Fixes change the converted output, never the source, so the
// content hash is compared right after conversion, before any fix touches the output.
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { convertImage } from '../convert/convert-image.js';
import type { Compression, ConvertProgress, ConvertResult, HashAlgorithm } from '../convert/types.js';
import { H2kError, toH2kError } from '../util/errors.js';
import { loadGuestApi, guestUnsupported } from './guest-api.js';
import { hasherUnsupported, loadContentHasher } from './hash-api.js';
import type { JobJournal } from './job-journal.js';
import type { ManifestVm } from './manifest-loader.js';
import { STAGE_NAMES, type Pipeline, type StageName } from './manifest-schema.js';
import { assertOutputInside } from './output-path.js';
import { qemuImgCheck } from './qemu-img-check.js';
import { reportedError, secondsBetween, type StageReport, type VmArtifacts, type VmReport } from './report.js';
import { probeSource } from './source-probe.js';
import { checkStageSupport } from './stage-support.js';

/** Hash used to compare source and output content: fast, 128-bit. */
const CONTENT_HASH: HashAlgorithm = 'xxh128';

export interface VmRunContext {
  manifestFile: string;
  outputDir: string;
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

export async function runVmPipeline(vm: ManifestVm, ctx: VmRunContext): Promise<VmReport> {
  const started = new Date();
  const p = vm.pipeline;
  const stages = initialStages(p);
  const artifacts: VmArtifacts = { input: vm.sourcePath, output: null, hashes: {} };
  const checks: ValidationCheck[] = [];
  const validateEnabled = included(p, 'validate') === true;
  let current: StageName = 'load';
  let failure: H2kError | undefined;
  let createdOutput: string | undefined;
  let validateStarted = 0;
  const enter = (stage: StageName) => {
    current = stage;
    ctx.onStage?.(vm.name, stage);
  };

  try {
    const problems = await checkStageSupport(p);
    if (problems.length > 0) {
      // Report every unsupported stage; the VM fails at the first one in pipeline order.
      for (const pr of problems.slice(1)) stages[pr.stage] = { status: 'failed', error: reportedError(pr.error) };
      current = problems[0].stage;
      throw problems[0].error;
    }

    enter('load');
    let t = Date.now();
    const probe = await probeSource(vm.sourcePath, p.load.source_type, `${vm.fieldPrefix}.load.source_path`);
    stages.load = {
      status: 'completed',
      duration_seconds: secondsSince(t),
      source_type: p.load.source_type,
      source_path: vm.sourcePath,
      detected_format: probe.detectedFormat,
      subformat: probe.subformat,
      virtual_size: probe.virtualSize,
      files: probe.files,
      warnings: probe.warnings,
    };

    let result: ConvertResult | undefined;
    if (p.convert && vm.outputPath) {
      enter('convert');
      t = Date.now();
      const output = vm.outputPath;
      const field = `${vm.fieldPrefix}.convert.output_path`;
      await assertOutputInside(ctx.manifestFile, ctx.outputDir, output, field);
      if (!p.convert.overwrite && existsSync(output))
        throw new H2kError(`${field}: output already exists: ${output}`, {
          code: 'E_OUTPUT_EXISTS', file: output, hint: 'remove it, choose another output_path, or set convert.overwrite: true',
        });
      await mkdir(dirname(output), { recursive: true });
      await ctx.journal?.recordOutput(output);
      createdOutput = output;
      result = await convertImage(
        {
          source: vm.sourcePath,
          output,
          outputFormat: p.convert.output_format,
          compression: compressionOf(p.convert.compress),
          sourceFormat: probe.engineFormat,
          force: p.convert.overwrite,
          threads: ctx.threads,
          hashAlgorithms: validateEnabled ? [CONTENT_HASH] : [],
        },
        { signal: ctx.signal, onProgress: (pr) => ctx.onProgress?.(vm.name, pr) },
      );
      stages.convert = {
        status: 'completed',
        duration_seconds: secondsSince(t),
        output_file: result.output,
        output_format: result.outputFormat,
        bytes: result.outputBytes,
        compression: result.compression,
        duration: result.seconds,
        virtual_size: result.virtualSize,
        data_bytes: result.dataBytes,
      };
      artifacts.output = result.output;
      if (Object.keys(result.sourceHashes).length > 0) artifacts.hashes.source_file = result.sourceHashes;
      if (Object.keys(result.contentHashes).length > 0) artifacts.hashes.source_content = result.contentHashes;

      if (validateEnabled) {
        enter('validate');
        validateStarted = Date.now();
        const hasher = await loadContentHasher();
        if (!hasher) throw hasherUnsupported();
        // The engine hashes the source content while converting when it can; otherwise the
        // source is read once more, on its own, through its reader.
        let expected = result.contentHashes[CONTENT_HASH];
        if (!expected) {
          expected = (await hasher(vm.sourcePath, [CONTENT_HASH], { signal: ctx.signal, format: probe.engineFormat }))[CONTENT_HASH];
          artifacts.hashes.source_content = { [CONTENT_HASH]: expected };
        }
        const actual = (await hasher(result.output, [CONTENT_HASH], { signal: ctx.signal, format: result.outputFormat }))[CONTENT_HASH];
        artifacts.hashes.output_content = { [CONTENT_HASH]: actual };
        const same = actual === expected;
        checks.push({ name: 'content_hash', passed: same, detail: `${CONTENT_HASH} source ${expected}, output ${actual ?? '(none)'}` });
        if (!same)
          throw new H2kError(`output content differs from the source (${CONTENT_HASH} ${expected} vs ${actual})`, {
            code: 'E_VALIDATE_MISMATCH', file: result.output, hint: 'the output was removed; rerun the manifest, and report a bug if it repeats',
          });
      }
    }

    const guest = await loadGuestApi();
    if (included(p, 'inspect') === true) {
      enter('inspect');
      t = Date.now();
      if (!guest.inspectImage) throw guestUnsupported('the inspect stage');
      const target = artifacts.output ?? vm.sourcePath;
      const os = await guest.inspectImage(target, { signal: ctx.signal });
      stages.inspect = { status: 'completed', duration_seconds: secondsSince(t), image: target, detect_os: p.inspect?.detect_os, os_detected: os ?? null };
    }

    if (included(p, 'fix') === true && p.fix && artifacts.output) {
      enter('fix');
      t = Date.now();
      if (!guest.fixImage) throw guestUnsupported('the fix stage');
      const fixed = await guest.fixImage(artifacts.output, {
        fstab: { enabled: p.fix.fstab.enabled, mode: p.fix.fstab.mode },
        grub: { enabled: p.fix.grub.enabled },
        initramfs: { enabled: p.fix.initramfs.enabled, regenerate: p.fix.initramfs.regenerate },
        network: { enabled: p.fix.network.enabled, fixLevel: p.fix.network.fix_level },
        removeVmwareTools: p.fix.remove_vmware_tools,
        dryRun: false,
        signal: ctx.signal,
      });
      stages.fix = { status: 'completed', duration_seconds: secondsSince(t), fixes_applied: fixed.changes, warnings: fixed.warnings };
    }

    if (validateEnabled && result) {
      enter('validate');
      const check = await qemuImgCheck(result.output, result.outputFormat, ctx.signal);
      checks.push({ name: 'qemu_img_check', passed: check.ran ? check.passed : null, detail: check.detail });
      if (check.ran && !check.passed)
        throw new H2kError(`qemu-img check found problems in the output: ${check.detail}`, { code: 'E_VALIDATE_CHECK', file: result.output });
      const boot = bootTestSettings(p);
      if (boot.enabled) {
        if (!guest.bootTest) throw guestUnsupported('validate.boot_test');
        const b = await guest.bootTest(result.output, { timeoutSeconds: boot.timeoutSeconds, signal: ctx.signal });
        checks.push({ name: 'boot_test', passed: b.passed, detail: `${b.passed ? 'booted' : 'did not boot'} in ${b.seconds}s${b.accel ? ` (${b.accel})` : ''}` });
        if (!b.passed) throw new H2kError(`boot test failed after ${b.seconds}s`, { code: 'E_BOOT_TEST', file: result.output });
      }
      stages.validate = { status: 'completed', duration_seconds: secondsSince(validateStarted), checks };
    }
  } catch (err) {
    failure = toH2kError(err);
    stages[current] = {
      ...(current === 'validate' ? { checks } : {}),
      status: 'failed',
      error: reportedError(failure),
    };
    if (createdOutput) {
      // A failed VM leaves no output behind: a file there would look finished.
      await rm(createdOutput, { force: true });
      await rm(`${createdOutput}.partial`, { force: true });
      artifacts.output = null;
    }
  }

  const completed = new Date();
  return {
    name: vm.name,
    status: failure ? 'failed' : 'completed',
    ...(failure ? { failed_stage: current, error: reportedError(failure) } : {}),
    started_at: started.toISOString(),
    completed_at: completed.toISOString(),
    duration_seconds: secondsBetween(started, completed),
    stages,
    artifacts,
  };
}
