// --check: verifies a sum file the way md5sum -c / sha256sum -c / b2sum -c / xxhsum -c do. Lines
// are checked in parallel (bounded by the pool) and reported in file order. An untagged line of
// an ambiguous length is hashed with every candidate in one read and passes if one matches.
import { H2kError, toH2kError } from '../util/errors.js';
import type { HashAlgorithm } from './algorithms.js';
import { mapLimit } from './map-limit.js';
import { parseSumLine, type SumLine, type SumLineHints } from './sum-file.js';

export type CheckStatus = 'OK' | 'FAILED' | 'MISSING' | 'UNREADABLE';

export interface CheckEntry {
  line: number;
  name: string;
  /** The algorithm that matched; when none did (or the file could not be read), the likeliest candidate. */
  algorithm: HashAlgorithm;
  /** Every algorithm the line could be; more than one when it was untagged and its length ambiguous. */
  candidates: HashAlgorithm[];
  expected: string;
  /** The digest of `algorithm`. */
  actual?: string;
  status: CheckStatus;
  error?: H2kError;
}

export interface CheckReport {
  entries: CheckEntry[];
  /** Properly formatted checksum lines (before --ignore-missing drops missing files). */
  parsed: number;
  /** 1-based numbers of lines that were not checksum lines (blank lines are skipped silently). */
  improperLines: number[];
  mismatched: number;
  unreadable: number;
  missing: number;
  /** Lines whose file was read and matched (md5sum fails a check in which none did). */
  matched: number;
}

export interface CheckOptions extends SumLineHints {
  /** Don't fail or report for files that don't exist (md5sum --ignore-missing). */
  ignoreMissing?: boolean;
  concurrency: number;
  /** Resolves names relative to this directory (default: the current one, like md5sum). */
  resolveName?: (name: string) => string;
}

/** Digests of one file for several algorithms, computed in one read. */
export type DigestFn = (path: string, algorithms: readonly HashAlgorithm[]) => Promise<Partial<Record<HashAlgorithm, string>>>;

export function parseSumFile(
  text: string,
  hints: SumLineHints | HashAlgorithm = {},
): { lines: { line: number; sum: SumLine }[]; improperLines: number[] } {
  const lines: { line: number; sum: SumLine }[] = [];
  const improperLines: number[] = [];
  const rows = text.split('\n');
  if (rows.length && rows[rows.length - 1] === '') rows.pop();
  rows.forEach((row, i) => {
    if (row.trim() === '' || row.startsWith('#')) return;
    const sum = parseSumLine(row, hints);
    if (sum) lines.push({ line: i + 1, sum });
    else improperLines.push(i + 1);
  });
  return { lines, improperLines };
}

export async function checkSums(text: string, digest: DigestFn, options: CheckOptions): Promise<CheckReport> {
  const { lines, improperLines } = parseSumFile(text, { algorithm: options.algorithm, guess: options.guess });
  const resolveName = options.resolveName ?? ((n: string) => n);
  const checked = await mapLimit(lines, options.concurrency, async ({ line, sum }): Promise<CheckEntry> => {
    const base = { line, name: sum.name, algorithm: sum.algorithm, candidates: sum.candidates, expected: sum.hex };
    try {
      const digests = await digest(resolveName(sum.name), sum.candidates);
      const matched = sum.candidates.find((a) => digests[a] === sum.hex);
      const algorithm = matched ?? sum.algorithm;
      return { ...base, algorithm, actual: digests[algorithm], status: matched ? 'OK' : 'FAILED' };
    } catch (err) {
      const error = toH2kError(err);
      return { ...base, status: error.code === 'E_NOT_FOUND' ? 'MISSING' : 'UNREADABLE', error };
    }
  });
  const entries = options.ignoreMissing ? checked.filter((e) => e.status !== 'MISSING') : checked;
  const count = (s: CheckStatus) => entries.filter((e) => e.status === s).length;
  return {
    entries,
    parsed: lines.length,
    improperLines,
    mismatched: count('FAILED'),
    unreadable: count('UNREADABLE'),
    missing: count('MISSING'),
    matched: count('OK'),
  };
}
