// --check: verifies a sum file the way md5sum -c / sha256sum -c / xxhsum -c do. Lines are
// checked in parallel (bounded by the pool) and reported in file order.
import { H2kError, toH2kError } from '../util/errors.js';
import type { HashAlgorithm } from './algorithms.js';
import { mapLimit } from './map-limit.js';
import { parseSumLine, type SumLine } from './sum-file.js';

export type CheckStatus = 'OK' | 'FAILED' | 'MISSING' | 'UNREADABLE';

export interface CheckEntry {
  line: number;
  name: string;
  algorithm: HashAlgorithm;
  expected: string;
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
}

export interface CheckOptions {
  /** Algorithm for GNU-style lines (from -a or guessed from the sum file's name). */
  algorithm?: HashAlgorithm;
  /** Don't fail or report for files that don't exist (md5sum --ignore-missing). */
  ignoreMissing?: boolean;
  concurrency: number;
  /** Resolves names relative to this directory (default: the current one, like md5sum). */
  resolveName?: (name: string) => string;
}

export type DigestFn = (path: string, algorithm: HashAlgorithm) => Promise<string>;

export function parseSumFile(text: string, algorithm?: HashAlgorithm): { lines: { line: number; sum: SumLine }[]; improperLines: number[] } {
  const lines: { line: number; sum: SumLine }[] = [];
  const improperLines: number[] = [];
  const rows = text.split('\n');
  if (rows.length && rows[rows.length - 1] === '') rows.pop();
  rows.forEach((row, i) => {
    if (row.trim() === '' || row.startsWith('#')) return;
    const sum = parseSumLine(row, algorithm);
    if (sum) lines.push({ line: i + 1, sum });
    else improperLines.push(i + 1);
  });
  return { lines, improperLines };
}

export async function checkSums(text: string, digest: DigestFn, options: CheckOptions): Promise<CheckReport> {
  const { lines, improperLines } = parseSumFile(text, options.algorithm);
  const resolveName = options.resolveName ?? ((n: string) => n);
  const checked = await mapLimit(lines, options.concurrency, async ({ line, sum }): Promise<CheckEntry> => {
    const base = { line, name: sum.name, algorithm: sum.algorithm, expected: sum.hex };
    try {
      const actual = await digest(resolveName(sum.name), sum.algorithm);
      return { ...base, actual, status: actual === sum.hex ? 'OK' : 'FAILED' };
    } catch (err) {
      const error = toH2kError(err);
      return { ...base, status: error.code === 'E_NOT_FOUND' ? 'MISSING' : 'UNREADABLE', error };
    }
  });
  const entries = options.ignoreMissing ? checked.filter((e) => e.status !== 'MISSING') : checked;
  return {
    entries,
    parsed: lines.length,
    improperLines,
    mismatched: entries.filter((e) => e.status === 'FAILED').length,
    unreadable: entries.filter((e) => e.status === 'UNREADABLE').length,
    missing: entries.filter((e) => e.status === 'MISSING').length,
  };
}
