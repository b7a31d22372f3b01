#!/usr/bin/env node
// Same-run comparison of this checkout against an older commit: the conversion rows of
// bench/run.js (1 GiB monolithicSparse -> qcow2 plain, zlib, zstd; streamOptimized -> qcow2, two
// cores, `h2k convert` as a user runs it) and the daemon row of bench/daemon.js (6 images through
// the watch-folder daemon, 1 and 2 workers), both CLIs interleaved run by run (the order flips
// every repeat), medians of --repeat, the load average before and after.
//
//   node bench/compare-commits.js <ref> [--repeat 3] [--mib 64] [--prepare]   (this checkout built first)
//
// <ref> is checked out as a git worktree in bench/work/ref-<commit> (node_modules linked to this
// checkout's) and built there once (`npm run build:native && npx tsc`), kept for the next run;
// --prepare only does that (the build can run while the machine is busy, the timing later).
// ratio = HEAD / ref (lower is faster). Writes bench/results/compare-commits.json.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { flag, machine, markdownTable, median, option, repo, timed, writeResults } from './lib/measure.js';
import { daemonRun, seededImages } from './lib/daemon-run.js';
import { gibDisks, h2kConvertArgv, verifyOutput, work } from './lib/vmdk-fixtures.js';

const ref = process.argv.slice(2).find((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
if (!ref) throw new Error('usage: node bench/compare-commits.js <ref> [--repeat 3] [--mib 64]');
const repeat = Math.max(1, Number(option('repeat', '3')));
const MIB = Number(option('mib', 64));
const IMAGES = 6;

const git = (...args) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' }).trim();

/** The ref's tree, checked out and built once per commit. */
function refCheckout(commit) {
  const dir = join(work, `ref-${commit.slice(0, 12)}`);
  const built = join(dir, '.h2k-bench-built');
  if (existsSync(built)) return dir;
  if (!existsSync(dir)) {
    git('worktree', 'add', '--detach', dir, commit);
    symlinkSync(realpathSync(join(repo, 'node_modules')), join(dir, 'node_modules'));
  }
  console.error(`building ${commit.slice(0, 12)} in ${dir} (once)...`);
  for (const argv of [['npm', 'run', 'build:native'], ['npx', 'tsc', '-p', 'tsconfig.json']]) {
    const r = spawnSync(argv[0], argv.slice(1), { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error(`${argv.join(' ')} in ${dir} exited ${r.status}`);
  }
  writeFileSync(built, commit + '\n');
  return dir;
}

const commit = git('rev-parse', '--verify', `${ref}^{commit}`);
const head = git('rev-parse', 'HEAD');
const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
const sides = [
  { name: `ref ${commit.slice(0, 7)}`, root: refCheckout(commit) },
  { name: `HEAD ${head.slice(0, 7)}${dirty ? '+' : ''}`, root: repo },
];
for (const s of sides) s.bin = join(s.root, 'bin', 'h2k.js');
if (flag('prepare')) {
  console.log(`${ref} (${commit}) is built in ${sides[0].root}`);
  process.exit(0);
}

const ROWS = [
  { id: 'ms-none', label: '1 GiB monolithicSparse → qcow2', sub: 'monolithicSparse', compression: 'none' },
  { id: 'ms-zlib', label: '1 GiB monolithicSparse → qcow2 zlib', sub: 'monolithicSparse', compression: 'zlib' },
  { id: 'ms-zstd', label: '1 GiB monolithicSparse → qcow2 zstd', sub: 'monolithicSparse', compression: 'zstd' },
  { id: 'so-none', label: '1 GiB streamOptimized → qcow2', sub: 'streamOptimized', compression: 'none' },
];

/** Each side's seconds per row, the sides alternating first from one repeat to the next. */
async function measure() {
  const disks = gibDisks();
  const images = mkdtempSync(join(tmpdir(), 'h2k-bench-compare-'));
  const seconds = {};
  const add = (row, side, s) => ((seconds[row] ??= {})[side.name] ??= []).push(s);
  try {
    const sources = seededImages(images, IMAGES, MIB);
    for (let i = 0; i < repeat; i++) {
      const order = i % 2 ? [...sides].reverse() : sides;
      for (const row of ROWS) {
        for (const side of order) {
          const src = disks.paths[row.sub];
          const out = join(work, `compare-${row.id}.qcow2`);
          rmSync(out, { force: true });
          add(row.label, side, timed(h2kConvertArgv([process.execPath, side.bin], src, out, row.compression)).seconds);
          if (i === 0) verifyOutput(src, out);
          rmSync(out, { force: true });
        }
      }
      for (const workers of [1, 2])
        for (const side of order) {
          const d = await daemonRun(side.bin, join(images, `r${i}-w${workers}-${side === sides[0] ? 'ref' : 'head'}`), sources, workers);
          add(`daemon, ${IMAGES} × ${MIB} MiB → qcow2 zlib, ${workers} worker${workers > 1 ? 's' : ''} (first job started to last done)`, side, d.window);
        }
      console.error(`repeat ${i + 1}/${repeat} done; load ${loadavg()[0].toFixed(2)}`);
    }
  } finally {
    rmSync(images, { recursive: true, force: true });
  }
  return seconds;
}

const at = machine();
const seconds = await measure();
const loadAtEnd = loadavg()[0];
const f = (n) => n.toFixed(2);
const runs = (xs) => `${f(median(xs))} s (${xs.map(f).join(', ')})`;
const [a, b] = sides.map((s) => s.name);
const rows = Object.entries(seconds).map(([label, by]) => ({ label, ref: by[a], head: by[b], ratio: median(by[b]) / median(by[a]) }));
console.log(`${b} vs ${a}; ${at.cpus} × ${at.model}; medians of ${repeat} interleaved runs; load average ${f(at.loadAtStart)} at start, ${f(loadAtEnd)} at end; ${at.date}\n`);
console.log(markdownTable(['row', a, b, 'HEAD / ref'], rows.map((r) => [r.label, runs(r.ref), runs(r.head), `${f(r.ratio)}×`])));
writeResults('compare-commits', { ...at, loadAtEnd, ref, commit, head, dirty, repeat, rows });
