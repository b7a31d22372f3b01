// What every benchmark shares: timing a command as a process (wall, CPU, peak RSS through
// /usr/bin/time), medians and spread, the machine's state at the start, and the result file
// that bench/summary.js turns into the one table the README quotes.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const resultsDir = join(repo, 'bench', 'results');
export const MiB = 1024 * 1024;
export const h2kCli = [process.execPath, join(repo, 'bin', 'h2k.js')];

/** `--name value` from argv, else the default. */
export function option(name, dflt) {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
}
export const flag = (name) => process.argv.slice(2).includes(`--${name}`);

/** The state a figure was taken in: it goes next to every table. */
export function machine() {
  const model = cpus()[0]?.model ?? 'unknown CPU';
  return { date: new Date().toISOString(), cpus: cpus().length, model, loadAtStart: loadavg()[0] };
}

/** Runs argv to completion under /usr/bin/time: wall seconds, CPU seconds (user+sys), peak RSS MiB. */
export function timed(argv, { env } = {}) {
  const timeFile = join(resultsDir, `.time-${process.pid}`);
  mkdirSync(resultsDir, { recursive: true });
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timeFile, ...argv], {
    encoding: 'utf8', maxBuffer: 64 * MiB, env: env ? { ...process.env, ...env } : process.env,
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error) throw new Error(`${argv[0]}: ${r.error.message} (is /usr/bin/time installed? Debian package time)`);
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  const [user, sys, rss] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).slice(-3).map(Number);
  return { seconds, cpuSeconds: user + sys, rssMiB: rss / 1024, stdout: r.stdout };
}

export function fsyncFile(path) {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** "0.41 s (0.39..0.47)": the median and the spread of the runs. */
export function secondsWithSpread(xs, digits = 2) {
  return `${median(xs).toFixed(digits)} s (${Math.min(...xs).toFixed(digits)}..${Math.max(...xs).toFixed(digits)})`;
}

/** A shell-quoted command line for the table's "exact commands". */
export function shellLine(argv) {
  const h2k = argv.findIndex((a, i) => a === h2kCli[0] && argv[i + 1] === h2kCli[1]);
  const shown = h2k >= 0 ? [...argv.slice(0, h2k), 'h2k', ...argv.slice(h2k + 2)] : argv;
  return shown
    .map((a) => String(a).replace(repo + '/', ''))
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}

export function markdownTable(header, rows) {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/**
 * Writes bench/results/<name>.json. `summary` rows are what bench/summary.js prints:
 * { work, h2k, peer, ratio, target, met, commands } with h2k/peer as text (median + spread),
 * ratio = h2k time / peer time (lower is better) unless `ratioNote` says otherwise.
 */
export function writeResults(name, data) {
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `${name}.json`), JSON.stringify(data, null, 2) + '\n');
}
