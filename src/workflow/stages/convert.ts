// Convert stage: every disk (controller order) to its own output, read back and compared with the
// source when the manifest validates (the engine's --verify: the content check is the one
// `h2k convert --verify` runs), then the libvirt domain XML of a multi-disk VM.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { convertImage } from '../../convert/convert-image.js';
import type { Compression, ConvertOptions, ConvertProgress, ConvertRequest, ConvertResult } from '../../convert/types.js';
import { convertLooseDisk } from '../../ovf/import-ovf.js';
import { writeDomainXml } from '../../ovf/libvirt-xml.js';
import { H2kError, toH2kError } from '../../util/errors.js';
import type { Pipeline } from '../manifest-schema.js';
import { assertOutputInside, multiDiskOutputs } from '../output-path.js';
import type { SourceDisk } from '../source-probe.js';
import { CONTENT_HASH, secondsSince, type VmRun } from './vm-run.js';

function compressionOf(c: NonNullable<Pipeline['convert']>['compress']): Compression {
  return c === true ? 'zlib' : c === false ? 'none' : c;
}

/** What convertDisks needs of a disk; virtualSize 0 when it was not probed (a watch-folder disk image). */
export type ConvertibleDisk = Pick<SourceDisk, 'source' | 'root' | 'engineFormat' | 'virtualSize' | 'manifestDigest'>;

export type ConvertFn = (req: ConvertRequest, opts: ConvertOptions) => Promise<ConvertResult>;

/**
 * Converts a VM's disks one after another, each to its output, by `convert` (the daemon's pool);
 * progress counts over the whole VM. `willCreate` runs before each output is started. A loose
 * OVF's disk with a deferred .mf digest has it checked from the conversion's own reads.
 */
export async function convertDisks(
  disks: ConvertibleDisk[],
  outputs: string[],
  base: Omit<ConvertRequest, 'source' | 'output' | 'sourceFormat' | 'sourceRoot'>,
  options: ConvertOptions,
  willCreate: (output: string) => Promise<void> = async () => undefined,
  convert: ConvertFn = convertImage,
): Promise<ConvertResult[]> {
  const total = disks.reduce((a, d) => a + d.virtualSize, 0);
  const results: ConvertResult[] = [];
  let doneBefore = 0;
  for (const [i, disk] of disks.entries()) {
    await willCreate(outputs[i]);
    const request: ConvertRequest = {
      ...base,
      source: disk.source,
      output: outputs[i],
      ...(disk.engineFormat ? { sourceFormat: disk.engineFormat } : {}),
      ...(disk.root ? { sourceRoot: disk.root } : {}),
    };
    const opts: ConvertOptions = {
      signal: options.signal,
      onProgress: (pr: ConvertProgress) =>
        options.onProgress?.({ ...pr, bytesDone: doneBefore + pr.bytesDone, bytesTotal: Math.max(total, doneBefore + pr.bytesTotal) }),
    };
    const md = disk.manifestDigest;
    const r = md ? await convertLooseDisk(request, opts, md.digest, md.mfName) : await convert(request, opts);
    doneBefore += r.virtualSize;
    results.push(r);
  }
  return results;
}

export async function convertStage(run: VmRun): Promise<void> {
  const { vm, ctx, multiDisk } = run;
  const p = run.pipeline;
  const convert = p.convert!;
  const probe = run.probe!;
  const validate = Boolean(p.validate?.enabled);
  const t = Date.now();
  const field = `${vm.fieldPrefix}.convert.output_path`;
  const planned = multiDisk ? multiDiskOutputs(vm.outputPath!, convert.output_format, probe.disks.length) : undefined;
  probe.disks.forEach((disk, i) => run.jobs.push({ disk, output: planned ? planned.disks[i] : vm.outputPath!, hashes: {} }));
  for (const output of [...run.jobs.map((j) => j.output), ...(planned ? [planned.libvirtXml] : [])]) {
    await assertOutputInside(ctx.manifestFile, ctx.outputDir, output, field);
    if (!convert.overwrite && existsSync(output))
      throw new H2kError(`${field}: output already exists: ${output}`, {
        code: 'E_OUTPUT_EXISTS', file: output, hint: 'remove it, choose another output_path, or set convert.overwrite: true',
      });
  }
  await mkdir(dirname(vm.outputPath!), { recursive: true });
  const results = await convertDisks(
    probe.disks,
    run.jobs.map((j) => j.output),
    {
      outputFormat: convert.output_format,
      compression: compressionOf(convert.compress),
      force: convert.overwrite,
      threads: ctx.threads,
      hashAlgorithms: validate ? [CONTENT_HASH] : [],
      verify: validate,
    },
    { signal: ctx.signal, onProgress: (pr) => ctx.onProgress?.(vm.name, pr) },
    run.willCreate,
  ).catch((err: unknown) => {
    // The read-back found a difference: the validate stage's content check failed.
    const e = toH2kError(err);
    if (validate && e.code === 'E_VERIFY_FAILED') {
      run.enter('validate');
      const i = run.jobs.findIndex((j) => j.output === e.file);
      run.checks.push({ name: run.multiDisk && i >= 0 ? `content_hash disk ${i + 1}` : 'content_hash', passed: false, detail: e.message });
    }
    throw err;
  });
  for (const [i, r] of results.entries()) run.jobs[i].result = r;
  if (planned && probe.ovfVm) {
    run.libvirtXml = planned.libvirtXml;
    await run.willCreate(run.libvirtXml);
    await writeDomainXml(run.libvirtXml, probe.ovfVm, run.jobs.map((j) => ({ path: j.output, format: convert.output_format })), { overwrite: convert.overwrite });
  }
  const boot = results[0];
  const sum = (f: (r: ConvertResult) => number) => results.reduce((a, r) => a + f(r), 0);
  run.stages.convert = {
    status: 'success',
    duration_seconds: secondsSince(t),
    output_file: boot.output,
    output_format: boot.outputFormat,
    bytes: sum((r) => r.outputBytes),
    compression: boot.compression,
    duration: Math.round(sum((r) => r.seconds) * 1000) / 1000,
    virtual_size: sum((r) => r.virtualSize),
    data_bytes: sum((r) => r.dataBytes),
    ...(multiDisk
      ? {
          disks: results.map((r, i) => ({
            disk: i + 1, source: r.source, output_file: r.output, bytes: r.outputBytes, duration: r.seconds,
            virtual_size: r.virtualSize, data_bytes: r.dataBytes,
          })),
          libvirt_xml: run.libvirtXml,
        }
      : {}),
  };
  for (const [i, job] of run.jobs.entries()) recordHashes(run, job, i);
  run.artifacts.output = boot.output;
  run.artifacts.hashes = run.jobs[0].hashes;
  if (multiDisk) {
    run.artifacts.disks = run.jobs.map((j, i) => ({ disk: i + 1, input: j.disk.source, output: j.output, hashes: j.hashes }));
    run.artifacts.libvirt_xml = run.libvirtXml ?? null;
  }
}

/**
 * A disk's hashes for the report and, when validating, its content check: the engine read the
 * output back and found the source's content (an XXH3 of both), so the output's content hash is
 * the source's.
 */
function recordHashes(run: VmRun, job: VmRun['jobs'][number], i: number): void {
  const r = job.result!;
  if (Object.keys(r.sourceHashes).length > 0) job.hashes.source_file = r.sourceHashes;
  if (Object.keys(r.contentHashes).length > 0) job.hashes.source_content = r.contentHashes;
  if (!r.verified) return;
  const hash = r.contentHashes[CONTENT_HASH];
  job.hashes.output_content = { [CONTENT_HASH]: hash };
  const label = run.multiDisk ? `disk ${i + 1}: ` : '';
  run.checks.push({
    name: run.multiDisk ? `content_hash disk ${i + 1}` : 'content_hash',
    passed: true,
    detail: `${label}read back by h2k's reader (convert --verify): ${CONTENT_HASH} source ${hash}, output ${hash}`,
  });
  run.validateMs += r.verifySeconds * 1000;
}
