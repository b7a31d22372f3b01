// h2k convert <src...>: one-off conversions; several sources run as parallel pool jobs.
import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { convertImage } from '../../convert/convert-image.js';
import { CACHE_MODES, type CacheMode, type Compression, type ConvertResult, type OutputFormat } from '../../convert/types.js';
import type { HashAlgorithm } from '../../hash/algorithms.js';
import { configurePool } from '../../pool/pool.js';
import { H2kError, toH2kError } from '../../util/errors.js';
import { formatBytes, formatDuration, parseSize } from '../../util/format.js';
import { EXIT, exitCodeFor } from '../exit-codes.js';
import { interruptOnSignals } from '../interrupt.js';
import { createProgress } from '../progress.js';
import { formatError } from '../report-error.js';
import { describePlan, formatDryRun, type DryRunEntry } from './convert-dry-run.js';
import { planConversions } from './convert-plan.js';
import { listed, outputFormats } from '../../native/formats.js';
import { applyQemuImgHabits } from './qemu-img-habits.js';

interface ConvertFlags {
  outputFormat: string;
  output?: string;
  compress?: string | boolean;
  threads?: string;
  clusterSize?: string;
  json?: boolean;
  force?: boolean;
  allowExternalPaths?: boolean;
  hash?: string[];
  jobs?: string;
  sourceFormat?: string;
  verify?: boolean;
  progress?: boolean;
  dryRun?: boolean;
  cache?: string;
}

function parseCacheMode(value: string | undefined): CacheMode | undefined {
  if (value === undefined) return undefined;
  if (!(CACHE_MODES as readonly string[]).includes(value))
    throw new H2kError(`-t ${value}: unsupported cache mode`, { code: 'E_INVALID_ARGUMENT', hint: `use -t ${CACHE_MODES.join(' or -t ')} (qemu-img's other modes are not offered: h2k always fsyncs its output)` });
  return value as CacheMode;
}

function parseIntOption(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new H2kError(`${name} must be an integer between ${min} and ${max}, got '${value}'`, { code: 'E_INVALID_ARGUMENT' });
  return n;
}

/** --dry-run: every plan described (or why it could not be), nothing written; exit as the real run would fail to start. */
async function dryRun(plans: Awaited<ReturnType<typeof planConversions>>, options: Parameters<typeof describePlan>[1], json: boolean): Promise<number> {
  const entries: DryRunEntry[] = [];
  const errors: { source: string; error: H2kError }[] = [];
  for (const plan of plans) {
    try {
      entries.push(await describePlan(plan, options));
    } catch (err) {
      errors.push({ source: plan.source, error: toH2kError(err) });
    }
  }
  if (json) {
    process.stdout.write(JSON.stringify({ dryRun: true, plans: entries, errors: errors.map((e) => ({ source: e.source, ...e.error.toJSON() })) }, null, 2) + '\n');
  } else {
    for (const e of entries) process.stdout.write(formatDryRun(e) + '\n');
    for (const e of errors) process.stderr.write(`${e.source}: ${formatError(e.error)}\n`);
  }
  if (errors.length === 0) return EXIT.OK;
  return Math.max(...errors.map((e) => exitCodeFor(e.error.code)));
}

function summaryLine(r: ConvertResult): string {
  const rate = r.seconds > 0 ? r.virtualSize / r.seconds : 0;
  return [
    `${r.source} -> ${r.output}`,
    `  format:       ${r.sourceFormat}${r.sourceSubformat ? ` (${r.sourceSubformat})` : ''} -> ${r.outputFormat}` +
      (r.compression !== 'none' ? ` (${r.compression})` : ''),
    `  virtual size: ${formatBytes(r.virtualSize)}`,
    `  data copied:  ${formatBytes(r.dataBytes)}`,
    `  output size:  ${formatBytes(r.outputBytes)}`,
    `  time:         ${formatDuration(r.seconds)} (${formatBytes(rate)}/s of virtual disk, ${formatBytes(r.seconds > 0 ? r.dataBytes / r.seconds : 0)}/s of data)`,
    ...Object.entries(r.sourceHashes).map(([a, h]) => `  source ${a}:  ${h}`),
    // A split VMDK: every extent file too, in md5sum/xxhsum style so they can be checked.
    ...(r.sourceFiles.length > 1
      ? r.sourceFiles.slice(1).flatMap((f) => Object.entries(f.hashes).map(([a, h]) => `  file ${a}:    ${h}  ${f.path}`))
      : []),
    ...Object.entries(r.contentHashes).map(([a, h]) => `  content ${a}: ${h}`),
    ...(r.verified ? [`  verified:     output read back, content matches the source (${formatDuration(r.verifySeconds)})`] : []),
  ].join('\n');
}

export function registerConvert(program: Command): void {
  program
    .command('convert')
    .description('convert VM disk images (VMDK, VHD, VHDX, VDI, qcow2, OVA, raw) to qcow2, raw, vdi or vmdk')
    .argument('[sources...]', 'source images (any supported format, detected by content; <vm.ova>/<member> names a disk inside an OVA)')
    .option('-O, --output-format <format>', `${outputFormats().join(' | ')} (vmdk: streamOptimized, for VMware/OVA)`, 'qcow2')
    .option('-o, --output <path>', 'output file (one source, one disk) or existing directory (several sources, or an OVA of several disks); key=value[,...] are qemu-img format options')
    .option('-c, --compress [algo]', 'compress qcow2 clusters: zlib (default with -c) | zstd; as in qemu-img, -c followed by a file name just turns compression on')
    .option('--threads <n>', 'compression threads per job (default: cores)')
    .option('-t, --cache <mode>', 'output cache mode, as qemu-img -t: none (default: O_DIRECT where the file system allows it) | writeback (the page cache); the output is fsynced in both')
    .option('--cluster-size <size>', 'qcow2 cluster size, 512..2M (default 64K)')
    .option('-j, --jobs <n>', 'sources converted at once (default: min(sources, cores))')
    .option('--hash <algo...>', 'hash source files and output content in the same pass: md5 xxh3 xxh128 sha256 sha1 sha512 xxh32 xxh64 blake2b')
    .option('--verify', 'read the output back with h2k\'s reader and compare its content with the source (removed on mismatch)')
    .option('-f, --source-format <format>', 'skip detection and read the source as this format')
    .option('--allow-external-paths', 'allow extent/parent paths outside the image directory (trusted input only)')
    .option('--force', 'overwrite existing outputs')
    .option('-n, --dry-run', 'print what would be written, where and with which options, and the space it needs; write nothing')
    .option('--json', 'print a JSON result for scripts (no progress)')
    .option('--no-progress', 'no progress line, even on a terminal')
    .action(async (sources: string[], flags: ConvertFlags) => {
      process.exitCode = await runConvert(sources, flags);
    });
}

async function runConvert(given: string[], flags: ConvertFlags): Promise<number> {
  const json = flags.json ?? false;
  let requests;
  let sources = given;
  try {
    const outputFormat = flags.outputFormat as OutputFormat;
    const args = applyQemuImgHabits(given, flags, outputFormat);
    sources = args.sources;
    // Checked here, not by commander: `-c in.vmdk` gives its source back only now.
    if (sources.length === 0)
      throw new H2kError('no source image given', { code: 'E_INVALID_ARGUMENT', hint: 'h2k convert <source...> [-o <output>] (see h2k convert --help)' });
    const compression: Compression =
      args.compress === undefined || args.compress === false ? 'none' : args.compress === true ? 'zlib' : (args.compress as Compression);
    const clusterSize = args.clusterSize !== undefined ? parseSize(args.clusterSize) : undefined;
    if (clusterSize !== undefined && Number.isNaN(clusterSize))
      throw new H2kError(`cannot parse cluster size '${args.clusterSize}'`, { code: 'E_INVALID_ARGUMENT', hint: 'e.g. 64K or 2M' });
    if (!outputFormats().includes(outputFormat))
      throw new H2kError(`-O ${flags.outputFormat}: h2k writes ${listed(outputFormats())}`, { code: 'E_INVALID_ARGUMENT' });
    const threads = parseIntOption(flags.threads, '--threads', 1, 256);
    const jobsFlag = parseIntOption(flags.jobs, '--jobs', 1, 64);
    const plans = await planConversions(sources, outputFormat, args.output, flags.allowExternalPaths ?? false, flags.sourceFormat);
    const common = { outputFormat, compression, clusterSize, force: flags.force ?? false, sourceFormat: flags.sourceFormat, allowExternalPaths: flags.allowExternalPaths ?? false };
    requests = plans.map(({ source, output }) => ({
      source, output, ...common, threads, hashAlgorithms: (flags.hash ?? []) as HashAlgorithm[], verify: flags.verify ?? false, cache: parseCacheMode(flags.cache),
    }));
    if (flags.dryRun) return await dryRun(plans, common, json);
    configurePool(jobsFlag ?? Math.min(requests.length, availableParallelism()));
  } catch (err) {
    const e = toH2kError(err);
    if (json) process.stdout.write(JSON.stringify({ results: [], errors: [{ source: null, ...e.toJSON() }] }, null, 2) + '\n');
    else process.stderr.write(formatError(e) + '\n');
    return exitCodeFor(e.code);
  }

  const interrupt = interruptOnSignals();
  const abort = { signal: interrupt.signal };
  const progress = createProgress(!json && flags.progress !== false);
  const done = new Map<string, { done: number; total: number }>();
  const total = () => [...done.values()].reduce((a, v) => ({ done: a.done + v.done, total: a.total + v.total }), { done: 0, total: 0 });
  const label = sources.length === 1 ? basename(sources[0]) : `${sources.length} images`;

  const settled = await Promise.allSettled(
    requests.map((req) =>
      convertImage(req, {
        signal: abort.signal,
        onProgress: (p) => {
          // With --verify each job is two passes over its virtual size: convert, then read back.
          if (!req.verify) done.set(req.source, { done: p.bytesDone, total: p.bytesTotal });
          else done.set(req.source, { done: (p.phase === 'verify' ? p.bytesTotal : 0) + p.bytesDone, total: 2 * p.bytesTotal });
          const t = total();
          progress.update(label, t.done, t.total);
        },
      }),
    ),
  );
  progress.stop();
  interrupt.dispose();

  const results: ConvertResult[] = [];
  const errors: { source: string; error: H2kError }[] = [];
  settled.forEach((s, i) => {
    if (s.status === 'fulfilled') results.push(s.value);
    else errors.push({ source: requests[i].source, error: toH2kError(s.reason) });
  });

  if (json) {
    process.stdout.write(
      JSON.stringify({ results, errors: errors.map((e) => ({ source: e.source, ...e.error.toJSON() })) }, null, 2) + '\n',
    );
  } else {
    for (const r of results) process.stdout.write(summaryLine(r) + '\n');
    for (const e of errors) process.stderr.write(`${e.source}: ${formatError(e.error)}\n`);
  }
  const interrupted = interrupt.exitCode();
  if (interrupted !== undefined) return interrupted;
  if (errors.length === 0) return EXIT.OK;
  return Math.max(...errors.map((e) => exitCodeFor(e.error.code)));
}
