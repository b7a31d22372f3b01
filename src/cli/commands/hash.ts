// h2k hash <files...>: md5sum/sha256sum/xxhsum-compatible checksums computed natively in the
// pool (files in parallel), content hashes of disk images (--content), --check of sum files,
// and a dedup precheck against the daemon's database (--dedup-db).
import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { BSD_TAG, HASH_ALGORITHMS, parseHashAlgorithm, type HashAlgorithm } from '../../hash/algorithms.js';
import { checkSums, type CheckReport } from '../../hash/check-sums.js';
import { runHashJob, type HashResult } from '../../hash/hash-file.js';
import { mapLimit } from '../../hash/map-limit.js';
import { algorithmFromSumFileName, formatCheckedName, formatSumLine, type SumLineStyle } from '../../hash/sum-file.js';
import type { DedupMatch } from '../../dedup/lookup.js';
import type { DedupStore } from '../../dedup/store.js';
import { configurePool } from '../../pool/pool.js';
import { H2kError, toH2kError } from '../../util/errors.js';
import { EXIT, exitCodeFor } from '../exit-codes.js';
import { interruptOnSignals } from '../interrupt.js';
import { createProgress, type ProgressLine } from '../progress.js';
import { formatError, reportError } from '../report-error.js';

interface HashFlags {
  progress?: boolean;
  algorithm: string[];
  content?: boolean;
  json?: boolean;
  check?: string;
  tag?: boolean;
  untagged?: boolean;
  dedupDb?: string;
  jobs?: string;
  quiet?: boolean;
  status?: boolean;
  warn?: boolean;
  /** The last of --quiet, --status, -w given: as in md5sum, it alone counts. */
  verbosity?: CheckVerbosity;
  strict?: boolean;
  ignoreMissing?: boolean;
  sourceFormat?: string;
  allowExternalPaths?: boolean;
}

/** Progress is worth a spinner only when there is a lot to read. */
const PROGRESS_THRESHOLD = 64 * 1024 * 1024;

type CheckVerbosity = 'quiet' | 'status' | 'warn';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').filter(Boolean)];
}

export function registerHash(program: Command): void {
  let verbosity: CheckVerbosity | undefined;
  const command = program
    .command('hash')
    .description('checksums compatible with md5sum / sha*sum / b2sum / xxhsum, content hashes of disk images, dedup precheck')
    .argument('[files...]', "files to hash ('-' reads standard input)")
    .option('-a, --algorithm <algo>', `${HASH_ALGORITHMS.join(' | ')} (repeat or comma-separate for several)`, collect)
    .option('--content', 'hash the guest-visible disk content (same for the disk in any format) instead of the file bytes')
    .option('-c, --check <sumfile>', "verify the checksums listed in a sum file ('-' = stdin)")
    .option('--tag', 'print BSD-style lines: MD5 (file) = <hex>')
    .option('--untagged', 'print GNU-style lines (<hex>  <file>) for every algorithm, xxh3 included')
    .option('--dedup-db <path>', 'report which files the daemon already processed ({output_dir}/.daemon/deduplication.db)')
    .option('-j, --jobs <n>', 'files hashed at once (default: min(files, cores))')
    .option('--quiet', 'with --check: do not print OK lines')
    .option('--status', 'with --check: print nothing, the exit code tells')
    .option('-w, --warn', 'with --check: warn about each improperly formatted line')
    .option('--strict', 'with --check: fail on improperly formatted lines')
    .option('--ignore-missing', "with --check: don't fail or report for missing files")
    .option('-f, --source-format <format>', 'with --content: read the image as this format')
    .option('--allow-external-paths', 'with --content: allow extent paths outside the image directory')
    .option('--json', 'print JSON')
    .option('--no-progress', 'no progress line, even on a terminal')
    .action(async (files: string[], flags: HashFlags) => {
      process.exitCode = await runHash(files, { ...flags, verbosity });
      verbosity = undefined;
    });
  // md5sum's --quiet, --status and --warn override each other: the last one given counts.
  for (const v of ['quiet', 'status', 'warn'] as const) command.on(`option:${v}`, () => (verbosity = v));
}

function parseJobs(value: string | undefined, work: number): number {
  if (value === undefined) return Math.max(1, Math.min(work, availableParallelism()));
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64)
    throw new H2kError(`--jobs must be an integer between 1 and 64, got '${value}'`, { code: 'E_INVALID_ARGUMENT' });
  return n;
}

function fileSize(path: string): number {
  if (path === '-') return 0;
  try {
    const st = statSync(path);
    return st.isFile() ? st.size : 0;
  } catch {
    return 0;
  }
}

/** Aggregated progress over several files; only on a TTY and only for large inputs. */
function progressFor(label: string, total: number, enabled: boolean): { line: ProgressLine; track: (key: string) => (p: { bytesDone: number }) => void } {
  const line = createProgress(enabled && total >= PROGRESS_THRESHOLD);
  const done = new Map<string, number>();
  return {
    line,
    track: (key) => (p) => {
      done.set(key, p.bytesDone);
      let sum = 0;
      for (const v of done.values()) sum += v;
      line.update(label, sum, total);
    },
  };
}

async function runHash(files: string[], flags: HashFlags): Promise<number> {
  const json = flags.json ?? false;
  try {
    const algorithms = [...new Set((flags.algorithm ?? []).map(parseHashAlgorithm))];
    if (flags.tag && flags.untagged) throw new H2kError('--tag and --untagged exclude each other', { code: 'E_INVALID_ARGUMENT' });
    if (flags.check !== undefined) {
      if (files.length) throw new H2kError('--check takes the sum file only; the files to verify are listed inside it', { code: 'E_INVALID_ARGUMENT' });
      if (algorithms.length > 1) throw new H2kError('--check takes at most one -a algorithm', { code: 'E_INVALID_ARGUMENT' });
      return await runCheck(flags.check, algorithms[0], flags);
    }
    if (files.length === 0)
      throw new H2kError('no files to hash', { code: 'E_INVALID_ARGUMENT', hint: `h2k hash <files...> [-a ${HASH_ALGORITHMS.join('|')}] or h2k hash --check <sumfile>` });
    if (files.filter((f) => f === '-').length > 1) throw new H2kError("standard input ('-') can be hashed once", { code: 'E_INVALID_ARGUMENT' });
    if (algorithms.length === 0) algorithms.push('md5');
    const style: SumLineStyle = flags.tag ? 'bsd' : flags.untagged ? 'gnu' : 'auto';
    return await runDigests(files, algorithms, style, flags);
  } catch (err) {
    return reportError(err, json);
  }
}

interface FileOutcome {
  file: string;
  result?: HashResult;
  error?: H2kError;
  dedup?: DedupMatch | null;
}

/**
 * The daemon's record of the image `file` starts, keyed as the daemon keys it (all its files as
 * one stream, src/dedup/image-key.ts). `ownHash` (the file's own md5 + xxh3, just computed) is
 * the key when the image is that one file.
 */
async function lookupImage(store: DedupStore, file: string, ownHash: HashResult | undefined, signal: AbortSignal): Promise<DedupMatch | undefined> {
  const { imageFilesOf, imageKeyDigests } = await import('../../dedup/image-key.js');
  const { lookupProcessed } = await import('../../dedup/lookup.js');
  const image = await imageFilesOf(file);
  const key =
    image.files.length === 1 && ownHash ? ownHash.digests : await imageKeyDigests(image.files, ['md5', 'xxh3'], signal);
  return lookupProcessed(store, { filename: file, file_size: image.sizeBytes, md5: key.md5, xxh3: key.xxh3 });
}

async function runDigests(files: string[], algorithms: HashAlgorithm[], style: SumLineStyle, flags: HashFlags): Promise<number> {
  const json = flags.json ?? false;
  const jobs = parseJobs(flags.jobs, files.length);
  // The dedup database is keyed by md5 and xxh3: compute both in the same pass.
  // the dedup modules (SQLite, the image classifier) load only with --dedup-db: ~40 ms of start-up
  const store = flags.dedupDb !== undefined ? (await import('../../dedup/store.js')).DedupStore.open(flags.dedupDb, { readonly: true }) : undefined;
  const describeMatch = store ? (await import('../../dedup/lookup.js')).describeMatch : undefined;
  const computed: HashAlgorithm[] = store ? [...new Set<HashAlgorithm>([...algorithms, 'md5', 'xxh3'])] : algorithms;
  configurePool(jobs);

  const interrupt = interruptOnSignals();
  const abort = { signal: interrupt.signal };
  const total = files.reduce((a, f) => a + fileSize(f), 0);
  const progress = progressFor(files.length === 1 ? basename(files[0]) : `${files.length} files`, total, !json && flags.progress !== false);
  let outcomes: FileOutcome[];
  try {
    outcomes = await mapLimit(files, jobs, async (file, i): Promise<FileOutcome> => {
      try {
        const result = await runHashJob(flags.content ? 'content' : 'file', file, computed, {
          signal: abort.signal,
          onProgress: progress.track(String(i)),
          format: flags.sourceFormat,
          allowExternalPaths: flags.allowExternalPaths,
        });
        const dedup = store ? ((await lookupImage(store, file, flags.content ? undefined : result, abort.signal)) ?? null) : undefined;
        return { file, result, dedup };
      } catch (err) {
        return { file, error: toH2kError(err) };
      }
    });
  } finally {
    progress.line.stop();
    interrupt.dispose();
    store?.close();
  }

  if (json) {
    const results = outcomes
      .filter((o) => o.result)
      .map((o) => ({
        file: o.file,
        mode: flags.content ? 'content' : 'file',
        bytes: o.result!.bytes,
        bytesRead: o.result!.bytesRead,
        seconds: o.result!.seconds,
        digests: o.result!.digests,
        ...(o.dedup !== undefined
          ? { dedup: o.dedup ? { processed: true, matchedBy: o.dedup.matchedBy, record: o.dedup.record } : { processed: false } }
          : {}),
      }));
    const errors = outcomes.filter((o) => o.error).map((o) => ({ file: o.file, ...o.error!.toJSON() }));
    process.stdout.write(JSON.stringify({ results, errors }, null, 2) + '\n');
  } else {
    for (const o of outcomes) {
      if (o.error) {
        process.stderr.write(`${o.file}: ${formatError(o.error)}\n`);
        continue;
      }
      if (o.dedup !== undefined && describeMatch) process.stdout.write(describeMatch(o.file, o.dedup ?? undefined) + '\n');
      else for (const a of algorithms) process.stdout.write(formatSumLine(a, o.result!.digests[a]!, o.file, style) + '\n');
    }
  }
  if (interrupt.exitCode() !== undefined) return interrupt.exitCode()!;
  const failures = outcomes.filter((o) => o.error).map((o) => exitCodeFor(o.error!.code));
  return failures.length ? Math.max(...failures) : EXIT.OK;
}

function readSumFile(path: string): string {
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (err) {
    throw toH2kError(Object.assign(err as object, { file: path }));
  }
}

/** Hashes one listed file with every candidate algorithm in one read. */
function checkDigest(flags: HashFlags, signal: AbortSignal) {
  return async (path: string, algorithms: readonly HashAlgorithm[]) => {
    const r = await runHashJob(flags.content ? 'content' : 'file', path, algorithms, {
      signal,
      format: flags.sourceFormat,
      allowExternalPaths: flags.allowExternalPaths,
    });
    return r.digests;
  };
}

/** Why a listed file could not be read, in md5sum's words where it has some. */
function readFailure(error: H2kError | undefined): string {
  if (!error) return 'cannot be read';
  if (error.code === 'E_NOT_FOUND') return 'No such file or directory';
  if (error.code === 'E_PERMISSION') return 'Permission denied';
  if (/^is a directory\b/i.test(error.message)) return 'Is a directory';
  return error.message;
}

async function runCheck(sumFile: string, algorithm: HashAlgorithm | undefined, flags: HashFlags): Promise<number> {
  const json = flags.json ?? false;
  const text = readSumFile(sumFile);
  const guess = algorithm || sumFile === '-' ? undefined : algorithmFromSumFileName(sumFile);
  const jobs = parseJobs(flags.jobs, availableParallelism());
  configurePool(jobs);
  const interrupt = interruptOnSignals();
  let report: CheckReport;
  try {
    report = await checkSums(text, checkDigest(flags, interrupt.signal), {
      algorithm,
      guess,
      ignoreMissing: flags.ignoreMissing,
      concurrency: jobs,
    });
  } finally {
    interrupt.dispose();
  }
  if (interrupt.exitCode() !== undefined) return interrupt.exitCode()!;

  // As md5sum: a check fails on a mismatch, an unreadable file, nothing verified (every file
  // missing and ignored, or no checksum line at all), or with --strict a malformed line.
  const ok =
    report.parsed > 0 &&
    report.matched > 0 &&
    report.mismatched + report.unreadable + report.missing === 0 &&
    !(flags.strict === true && report.improperLines.length > 0);
  if (json) {
    process.stdout.write(
      JSON.stringify(
        {
          sumFile,
          ok,
          entries: report.entries.map((e) => ({ ...e, error: e.error?.toJSON() })),
          improperLines: report.improperLines,
          matched: report.matched,
          mismatched: report.mismatched,
          unreadable: report.unreadable + report.missing,
        },
        null,
        2,
      ) + '\n',
    );
  } else {
    printCheckReport(report, sumFile === '-' ? 'standard input' : sumFile, algorithm, flags);
  }
  return ok ? EXIT.OK : EXIT.FAILURE;
}

/** md5sum -c's output: per-line verdicts on stdout, read errors and warnings on stderr. */
function printCheckReport(report: CheckReport, sumName: string, algorithm: HashAlgorithm | undefined, flags: HashFlags): void {
  const verbosity = flags.verbosity ?? (flags.status ? 'status' : flags.quiet ? 'quiet' : flags.warn ? 'warn' : undefined);
  const status = verbosity === 'status';
  const err = (msg: string) => process.stderr.write(`h2k: ${msg}\n`);
  // In line order, as md5sum reports while it reads: a malformed line's warning (-w) among the verdicts.
  const malformed = verbosity === 'warn' ? report.improperLines : [];
  const kind = algorithm ? `${BSD_TAG[algorithm]} checksum line` : 'checksum line';
  let next = 0;
  const warnMalformedBefore = (line: number) => {
    for (; next < malformed.length && malformed[next] < line; next++) err(`${sumName}: ${malformed[next]}: improperly formatted ${kind}`);
  };
  for (const e of report.entries) {
    warnMalformedBefore(e.line);
    const name = formatCheckedName(e.name);
    if (e.status === 'OK') {
      // An untagged line of an ambiguous length says which algorithm it turned out to be.
      // An untagged line of ambiguous length: say so only when it was not the classic tool's own
      // algorithm (md5sum, xxhsum -H1, sha512sum) that matched, so their output stays theirs.
      const which = e.candidates.length > 1 && e.algorithm !== e.candidates[0] ? ` (${e.algorithm})` : '';
      if (!status && verbosity !== 'quiet') process.stdout.write(`${name}: OK${which}\n`);
    } else if (e.status === 'FAILED') {
      if (!status) process.stdout.write(`${name}: FAILED\n`);
    } else {
      // md5sum reports why a file could not be read even with --status.
      err(`${name}: ${readFailure(e.error)}`);
      if (!status) process.stdout.write(`${name}: FAILED open or read\n`);
    }
  }
  warnMalformedBefore(Infinity);
  if (report.parsed === 0) {
    err(`${sumName}: no properly formatted checksum lines found`);
    return;
  }
  if (status) return;
  const warn = (n: number, one: string, many: string) => {
    if (n > 0) err(`WARNING: ${n} ${n === 1 ? one : many}`);
  };
  warn(report.improperLines.length, 'line is improperly formatted', 'lines are improperly formatted');
  warn(report.unreadable + report.missing, 'listed file could not be read', 'listed files could not be read');
  warn(report.mismatched, 'computed checksum did NOT match', 'computed checksums did NOT match');
  if (flags.ignoreMissing && report.matched === 0) err(`${sumName}: no file was verified`);
}
