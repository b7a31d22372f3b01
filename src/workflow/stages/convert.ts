// Convert stage: every disk (controller order) to its own output, read back and compared with the
// source when the manifest validates (the engine's --verify: the content check is the one
// `h2k convert --verify` runs), then the libvirt domain XML of a multi-disk VM.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { convertImage } from '../../convert/convert-image.js';
import type { Compression, ConvertOptions, ConvertRequest, ConvertResult } from '../../convert/types.js';
import { convertLooseDisk } from '../../ovf/import-ovf.js';
import { writeDomainXml } from '../../ovf/libvirt-xml.js';
import { H2kError, toH2kError } from '../../util/errors.js';
import { assertOutputInside, multiDiskOutputs } from '../output-path.js';
import type { ArtifactHashes } from '../report.js';
import type { SourceDisk } from '../source-probe.js';
import { CONTENT_HASH, diskCheck, type StageDetails, type VmRun } from './vm-run.js';

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
  for (const [i, disk] of disks.entries()) {
    await willCreate(outputs[i]);
    const doneBefore = results.reduce((a, r) => a + r.virtualSize, 0);
    const request: ConvertRequest = {
      ...base,
      source: disk.source,
      output: outputs[i],
      ...(disk.engineFormat ? { sourceFormat: disk.engineFormat } : {}),
      ...(disk.root ? { sourceRoot: disk.root } : {}),
    };
    const opts: ConvertOptions = {
      signal: options.signal,
      onProgress: (pr) => options.onProgress?.({ ...pr, bytesDone: doneBefore + pr.bytesDone, bytesTotal: Math.max(total, doneBefore + pr.bytesTotal) }),
    };
    results.push(disk.manifestDigest ? await convertLooseDisk(request, opts, disk.manifestDigest) : await convert(request, opts));
  }
  return results;
}

export async function convertStage(run: VmRun): Promise<StageDetails> {
  const { vm, ctx, multiDisk } = run;
  const convert = run.pipeline.convert!;
  const probe = run.probe!;
  const validate = Boolean(run.pipeline.validate?.enabled);
  const field = `${vm.fieldPrefix}.convert.output_path`;
  const planned = multiDisk ? multiDiskOutputs(vm.outputPath!, convert.output_format, probe.disks.length) : undefined;
  const outputs = planned?.disks ?? [vm.outputPath!];
  for (const output of [...outputs, ...(planned ? [planned.libvirtXml] : [])]) {
    await assertOutputInside(ctx.manifestFile, ctx.outputDir, output, field);
    if (!convert.overwrite && existsSync(output))
      throw new H2kError(`${field}: output already exists: ${output}`, {
        code: 'E_OUTPUT_EXISTS', file: output, hint: 'remove it, choose another output_path, or set convert.overwrite: true',
      });
  }
  await mkdir(dirname(vm.outputPath!), { recursive: true });
  const compression: Compression = convert.compress === true ? 'zlib' : convert.compress || 'none';
  const base = { outputFormat: convert.output_format, compression, force: convert.overwrite, threads: ctx.threads, hashAlgorithms: validate ? [CONTENT_HASH] : [], verify: validate };
  const options: ConvertOptions = { signal: ctx.signal, onProgress: (pr) => ctx.onProgress?.(vm.name, pr) };
  const results = await convertDisks(probe.disks, outputs, base, options, run.willCreate).catch((err: unknown) => {
    // The read-back found a difference: the validate stage's content check failed.
    const e = toH2kError(err);
    if (validate && e.code === 'E_VERIFY_FAILED') {
      run.enter('validate');
      run.checks.push({ name: diskCheck(run, 'content_hash', outputs.indexOf(e.file ?? '')), passed: false, detail: e.message });
    }
    throw err;
  });
  run.results = results;
  if (planned) {
    await run.willCreate(planned.libvirtXml);
    await writeDomainXml(planned.libvirtXml, probe.ovfVm!, outputs.map((path) => ({ path, format: convert.output_format })), { overwrite: convert.overwrite });
  }
  const boot = results[0];
  const hashes = results.map((r, i) => diskHashes(run, r, i));
  run.artifacts.output = boot.output;
  run.artifacts.hashes = hashes[0];
  if (planned) {
    run.artifacts.disks = results.map((_, i) => ({ disk: i + 1, input: probe.disks[i].source, output: outputs[i], hashes: hashes[i] }));
    run.artifacts.libvirt_xml = planned.libvirtXml;
  }
  const sum = (f: (r: ConvertResult) => number) => results.reduce((a, r) => a + f(r), 0);
  return {
    output_file: boot.output,
    output_format: boot.outputFormat,
    bytes: sum((r) => r.outputBytes),
    compression: boot.compression,
    duration: Math.round(sum((r) => r.seconds) * 1000) / 1000,
    virtual_size: sum((r) => r.virtualSize),
    data_bytes: sum((r) => r.dataBytes),
    ...(planned && {
      disks: results.map((r, i) => ({
        disk: i + 1, source: r.source, output_file: r.output, bytes: r.outputBytes, duration: r.seconds, virtual_size: r.virtualSize, data_bytes: r.dataBytes,
      })),
      libvirt_xml: planned.libvirtXml,
    }),
  };
}

/**
 * Disk i's hashes for the report and, when validating, its content check: the engine read the
 * output back and found the source's content (an XXH3 of both), so the output's content hash is
 * the source's.
 */
function diskHashes(run: VmRun, r: ConvertResult, i: number): ArtifactHashes {
  const hashes: ArtifactHashes = {};
  if (Object.keys(r.sourceHashes).length > 0) hashes.source_file = r.sourceHashes;
  if (Object.keys(r.contentHashes).length > 0) hashes.source_content = r.contentHashes;
  if (!r.verified) return hashes;
  const hash = r.contentHashes[CONTENT_HASH];
  hashes.output_content = { [CONTENT_HASH]: hash };
  run.checks.push({
    name: diskCheck(run, 'content_hash', i),
    passed: true,
    detail: `${run.multiDisk ? `disk ${i + 1}: ` : ''}read back by h2k's reader (convert --verify): ${CONTENT_HASH} source ${hash}, output ${hash}`,
  });
  run.validateMs += r.verifySeconds * 1000;
  return hashes;
}
