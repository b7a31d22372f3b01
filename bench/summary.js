#!/usr/bin/env node
// The one table: every benchmark's headline rows (bench/results/<name>.json, "summary"), with the
// machine, date and load each was taken at, and the exact commands. The README's figures are
// pasted from this output; `npm run bench` ends with it.
//
//   node bench/summary.js
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { markdownTable, resultsDir } from './lib/measure.js';

const SOURCES = [
  ['startup', 'node bench/startup.js'],
  ['convert', 'node bench/run.js'],
  ['hash-cli', 'node bench/hash-cli.js'],
  ['formats', 'node bench/formats.js'],
  ['pool-entry', 'node bench/pool-entry.js'],
  ['daemon', 'node bench/daemon.js'],
  ['cluster', 'node bench/cluster.js'],
  ['guest-fix', 'node bench/guest-fix.js'],
];

const rows = [];
const notes = [];
const commands = [];
for (const [name, command] of SOURCES) {
  const path = join(resultsDir, `${name}.json`);
  if (!existsSync(path)) {
    notes.push(`- \`${command}\`: no results yet (bench/results/${name}.json)`);
    continue;
  }
  const r = JSON.parse(readFileSync(path, 'utf8'));
  if (!Array.isArray(r.summary)) {
    notes.push(`- \`${command}\`: results without a summary (older format); run it again`);
    continue;
  }
  const load = typeof r.loadAtStart === 'number' ? r.loadAtStart.toFixed(2) : '?';
  notes.push(`- \`${command}\`: ${r.date ?? '?'}, ${r.cpus ?? '?'} × ${r.model ?? '?'}, load average ${load} at start, ${r.repeat ?? '?'} runs each`);
  for (const s of r.summary) {
    rows.push([s.work, s.h2k, s.peer, s.ratio, s.target, s.met === undefined ? '' : s.met ? 'yes' : 'NO']);
    if (s.commands?.length) commands.push(`- ${s.work}: ${s.commands.map((c) => `\`${c}\``).join(' vs ')}`);
  }
}

console.log(markdownTable(['work', 'h2k', 'peer', 'ratio', 'target', 'met'], rows));
console.log(`\nTaken by:\n${notes.join('\n')}`);
console.log(`\nExact commands:\n${commands.join('\n')}`);
