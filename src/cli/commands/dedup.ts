// h2k dedup check|list|forget|purge: the daemon's deduplication database by hand.
import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { describeMatch, dedupDbPath, lookupProcessed, type DedupMatch } from '../../dedup/lookup.js';
import { imageFilesOf, imageKeyDigests, type DedupKeyAlgorithm } from '../../dedup/image-key.js';
import { DedupStore, type DedupRecord } from '../../dedup/store.js';
import { mapLimit } from '../../hash/map-limit.js';
import type { HashAlgorithm } from '../../hash/algorithms.js';
import { configurePool } from '../../pool/pool.js';
import { H2kError, toH2kError } from '../../util/errors.js';
import { formatBytes } from '../../util/format.js';
import { EXIT, exitCodeFor } from '../exit-codes.js';
import { formatError, reportError } from '../report-error.js';

interface DbFlags {
  db?: string;
  outputDir?: string;
  json?: boolean;
}

function dbPathFrom(flags: DbFlags): string {
  if (flags.db && flags.outputDir) throw new H2kError('give --db or --output-dir, not both', { code: 'E_INVALID_ARGUMENT' });
  if (flags.db) return flags.db;
  if (flags.outputDir) return dedupDbPath(flags.outputDir);
  throw new H2kError('which dedup database?', {
    code: 'E_INVALID_ARGUMENT',
    hint: "pass --output-dir <daemon output_dir> or --db <path to deduplication.db>",
  });
}

function withDbOptions(cmd: Command): Command {
  return cmd
    .option('--db <path>', 'the database file')
    .option('--output-dir <dir>', "the daemon's output_dir (database at <dir>/.daemon/deduplication.db)")
    .option('--json', 'print JSON');
}

function formatRecord(r: DedupRecord): string {
  const parts = [
    `${String(r.id).padStart(5)}  ${r.processed_at}  ${r.status.padEnd(8)} ${r.filename} (${formatBytes(r.file_size)})`,
    r.output_path ? `       output: ${r.output_path}` : '',
    r.xxh3 ? `       xxh3:   ${r.xxh3}` : '',
    r.md5_hash ? `       md5:    ${r.md5_hash}` : '',
    r.error ? `       error:  ${r.error}` : '',
  ];
  return parts.filter(Boolean).join('\n');
}

export function registerDedup(program: Command): void {
  const dedup = program.command('dedup').description("look up and maintain the daemon's deduplication database");

  withDbOptions(
    dedup
      .command('check')
      .description('say which files were already processed (by xxh3/md5 content hash, then name + size)')
      .argument('<files...>', 'source files')
      .option('--hash <which>', 'xxh3 | md5 | both | none (name + size only, no reading)', 'both')
      .option('-j, --jobs <n>', 'files hashed at once'),
  ).action(async (files: string[], flags: DbFlags & { hash: string; jobs?: string }) => {
    process.exitCode = await runDedupCheck(files, flags);
  });

  withDbOptions(
    dedup
      .command('list')
      .description('list processed files, newest first')
      .option('-n, --limit <n>', 'at most this many records', '50')
      .option('--status <status>', 'only records with this status (success, failed, ...)'),
  ).action((flags: DbFlags & { limit: string; status?: string }) => {
    process.exitCode = withStore(flags, true, (store) => {
      const limit = Number(flags.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new H2kError(`--limit must be a positive integer, got '${flags.limit}'`, { code: 'E_INVALID_ARGUMENT' });
      const records = store.list({ limit, status: flags.status });
      if (flags.json) process.stdout.write(JSON.stringify({ records }, null, 2) + '\n');
      else if (records.length === 0) process.stdout.write('no records\n');
      else process.stdout.write(records.map(formatRecord).join('\n') + '\n');
    });
  });

  withDbOptions(
    dedup
      .command('forget')
      .description('delete records (by id, or every record of a file name) so the files are processed again')
      .argument('<ids-or-names...>', 'record ids (from list) or file names'),
  ).action((keys: string[], flags: DbFlags) => {
    process.exitCode = withStore(flags, false, (store) => {
      const removed = keys.map((key) => ({ key, removed: store.forget(key) }));
      if (flags.json) process.stdout.write(JSON.stringify({ removed }, null, 2) + '\n');
      else for (const r of removed) process.stdout.write(`${r.key}: ${r.removed} record${r.removed === 1 ? '' : 's'} removed\n`);
      if (removed.some((r) => r.removed === 0)) return EXIT.FAILURE;
      return EXIT.OK;
    });
  });

  withDbOptions(
    dedup
      .command('purge')
      .description('delete records older than a number of days (the daemon does this on its own)')
      .requiredOption('--older-than <days>', 'age in days'),
  ).action((flags: DbFlags & { olderThan: string }) => {
    process.exitCode = withStore(flags, false, (store) => {
      const days = Number(flags.olderThan);
      if (!Number.isFinite(days) || days < 0) throw new H2kError(`--older-than must be a number of days >= 0, got '${flags.olderThan}'`, { code: 'E_INVALID_ARGUMENT' });
      const removed = store.purgeOlderThan(days);
      process.stdout.write(flags.json ? JSON.stringify({ removed }) + '\n' : `${removed} record${removed === 1 ? '' : 's'} removed\n`);
    });
  });
}

function withStore(flags: DbFlags, readonly: boolean, fn: (store: DedupStore) => number | void): number {
  let store: DedupStore | undefined;
  try {
    store = DedupStore.open(dbPathFrom(flags), { readonly, create: false });
    return fn(store) ?? EXIT.OK;
  } catch (err) {
    return reportError(err, flags.json);
  } finally {
    store?.close();
  }
}

async function runDedupCheck(files: string[], flags: DbFlags & { hash: string; jobs?: string }): Promise<number> {
  let store: DedupStore | undefined;
  try {
    const which = flags.hash;
    if (!['xxh3', 'md5', 'both', 'none'].includes(which))
      throw new H2kError(`--hash must be xxh3, md5, both or none, got '${which}'`, { code: 'E_INVALID_ARGUMENT' });
    const algorithms: HashAlgorithm[] = which === 'both' ? ['xxh3', 'md5'] : which === 'none' ? [] : [which as HashAlgorithm];
    const jobs = flags.jobs !== undefined ? Number(flags.jobs) : Math.min(files.length, availableParallelism());
    if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw new H2kError(`--jobs must be 1..64, got '${flags.jobs}'`, { code: 'E_INVALID_ARGUMENT' });
    store = DedupStore.open(dbPathFrom(flags), { readonly: true });
    configurePool(jobs);
    const s = store;
    const outcomes = await mapLimit(files, jobs, async (file) => {
      try {
        // Keyed as the daemon keys a job: all the image's files (a descriptor's extents too).
        const image = await imageFilesOf(file);
        const digests = await imageKeyDigests(image.files, algorithms as DedupKeyAlgorithm[]);
        const match: DedupMatch | undefined = lookupProcessed(s, { filename: basename(file), file_size: image.sizeBytes, ...digests });
        return { file, size: image.sizeBytes, digests, match };
      } catch (err) {
        return { file, error: toH2kError(err) };
      }
    });
    if (flags.json) {
      const results = outcomes
        .filter((o) => !o.error)
        .map((o) => ({ file: o.file, size: o.size, digests: o.digests, processed: !!o.match, matchedBy: o.match?.matchedBy, record: o.match?.record }));
      const errors = outcomes.filter((o) => o.error).map((o) => ({ file: o.file, ...o.error!.toJSON() }));
      process.stdout.write(JSON.stringify({ results, errors }, null, 2) + '\n');
    } else {
      for (const o of outcomes) {
        if (o.error) process.stderr.write(`${o.file}: ${formatError(o.error)}\n`);
        else process.stdout.write(describeMatch(o.file, o.match) + '\n');
      }
    }
    const failures = outcomes.filter((o) => o.error).map((o) => exitCodeFor(o.error!.code));
    return failures.length ? Math.max(...failures) : EXIT.OK;
  } catch (err) {
    return reportError(err, flags.json);
  } finally {
    store?.close();
  }
}
