#!/usr/bin/env node
// The fixed cost of an h2k command: wall time of commands whose input is (nearly) empty, against
// `node -e 0` measured in the same run, interleaved so load changes hit both. Target (issue
// "Fast from the first millisecond"): any command <= node -e 0 + 50 ms.
//
//   node bench/startup.js [--repeat N]      (default 15; medians and min..max printed)
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, truncateSync } from 'node:fs';
import { loadavg } from 'node:os';
import { machine, shellLine, writeResults } from './lib/measure.js';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const work = join(here, 'work', 'startup');
const args = process.argv.slice(2);
const i = args.indexOf('--repeat');
const repeat = Math.max(3, Number(i >= 0 ? args[i + 1] : 15));

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const small = join(work, 'small.txt');
writeFileSync(small, 'one kilobyte of text\n'.repeat(48));
const tiny = join(work, 'tiny.raw');
writeFileSync(tiny, '');
truncateSync(tiny, 1024 * 1024);
const out = join(work, 'tiny.qcow2');

const h2k = [process.execPath, join(repo, 'bin', 'h2k.js')];
const cases = [
  { name: 'node -e 0 (baseline)', argv: [process.execPath, '-e', '0'] },
  { name: 'h2k --version', argv: [...h2k, '--version'] },
  { name: 'h2k --help', argv: [...h2k, '--help'] },
  { name: 'h2k info <1 MiB raw>', argv: [...h2k, 'info', tiny] },
  { name: 'h2k hash <1 KiB file>', argv: [...h2k, 'hash', small] },
  { name: 'h2k convert <1 MiB raw> -> qcow2', argv: [...h2k, 'convert', tiny, '-o', out, '--force'] },
];

function wall(argv) {
  const t = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: 'ignore' });
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}`);
  return s;
}

const m = machine();
const load = m.loadAtStart;
for (const c of cases) wall(c.argv); // warm the page cache once
const times = cases.map(() => []);
for (let r = 0; r < repeat; r++) cases.forEach((c, k) => times[k].push(wall(c.argv)));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(times[0]);
const ms = (s) => `${(s * 1000).toFixed(0)} ms`;
console.log(`h2k fixed cost, ${repeat} interleaved runs each, load average ${load.toFixed(2)} at start (target: <= node -e 0 + 50 ms)\n`);
console.log('| command | median | min..max | over node -e 0 | target met |');
console.log('|---|---|---|---|---|');
cases.forEach((c, k) => {
  const m = median(times[k]);
  const over = m - base;
  console.log(`| \`${c.name}\` | ${ms(m)} | ${ms(Math.min(...times[k]))}..${ms(Math.max(...times[k]))} | ${k === 0 ? '—' : `+${ms(over)}`} | ${k === 0 ? '' : over <= 0.05 ? 'yes' : 'no'} |`);
});
writeResults('startup', {
  ...m, repeat,
  summary: cases.slice(1).map((c, j) => {
    const k = j + 1;
    const over = median(times[k]) - base;
    return {
      work: `fixed cost: \`${c.name}\``, h2k: `${ms(median(times[k]))} (${ms(Math.min(...times[k]))}..${ms(Math.max(...times[k]))})`,
      peer: `node -e 0 ${ms(base)}`, ratio: `+${ms(over)}`, target: '≤ node -e 0 + 50 ms', met: over <= 0.05,
      commands: [shellLine(c.argv), 'node -e 0'],
    };
  }),
});
rmSync(work, { recursive: true, force: true });
