#!/usr/bin/env node
// `h2k hash` as a user runs it (a process, Node's start included) against the classic tools on
// the same 1 GiB file of seeded random bytes, page cache warm for everyone, runs interleaved:
//   MD5      h2k hash -a md5     vs  md5sum
//   XXH3-64  h2k hash -a xxh3    vs  xxhsum -H3
//   XXH128   h2k hash -a xxh128  vs  xxhsum -H2
//   SHA-256  h2k hash -a sha256  vs  openssl dgst -sha256 (and sha256sum, shown)
// Target (performance issue): h2k's throughput >= 100% of the tool's, i.e. h2k time <= tool time.
// Digests are compared first: a fast wrong answer is not a result.
//
//   node bench/hash-cli.js [--repeat 7] [--mib 1024]
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { MiB, h2kCli, machine, markdownTable, median, option, repo, secondsWithSpread, shellLine, timed, writeResults } from './lib/measure.js';
import { seededRandomFile } from './lib/seeded.js';

const repeat = Math.max(1, Number(option('repeat', '7')));
const mib = Number(option('mib', '1024'));
const file = seededRandomFile(join(repo, 'bench', 'work', `hash-cli-${mib}.bin`), mib * MiB, 4242);

const cases = [
  { algo: 'MD5', h2k: 'md5', peers: [['md5sum', file]] },
  { algo: 'XXH3-64', h2k: 'xxh3', peers: [['xxhsum', '-H3', file]] },
  { algo: 'XXH128', h2k: 'xxh128', peers: [['xxhsum', '-H2', file]] },
  { algo: 'SHA-256', h2k: 'sha256', peers: [['openssl', 'dgst', '-sha256', file], ['sha256sum', file]] },
];

/** The hex digest a tool printed, whatever its line style. */
function digestOf(stdout) {
  const m = /= ([0-9a-f]+)\s*$/m.exec(stdout) ?? /^\\?([0-9a-f]{8,})\s/m.exec(stdout);
  if (!m) throw new Error(`no digest in: ${stdout}`);
  return m[1];
}

function main() {
  const m = machine();
  spawnSync('cat', [file], { stdio: ['ignore', 'ignore', 'ignore'] }); // page cache warm
  const rows = [];
  for (const c of cases) {
    const h2kArgv = [...h2kCli, 'hash', '-a', c.h2k, file];
    const expected = digestOf(timed(h2kArgv).stdout);
    for (const p of c.peers) {
      const got = digestOf(timed(p).stdout);
      if (got !== expected) throw new Error(`${c.algo}: h2k ${expected} but ${p[0]} ${got}`);
    }
    const t = { h2k: [], peers: c.peers.map(() => []) };
    for (let i = 0; i < repeat; i++) {
      t.h2k.push(timed(h2kArgv).seconds);
      c.peers.forEach((p, k) => t.peers[k].push(timed(p).seconds));
    }
    c.peers.forEach((p, k) => {
      const ratio = median(t.peers[k]) / median(t.h2k); // throughput of h2k relative to the tool
      rows.push({
        work: `${c.algo} of ${mib} MiB, cached`, h2kSeconds: t.h2k, peer: p[0] === 'openssl' ? 'openssl dgst -sha256' : shellLine(p.slice(0, -1)),
        peerSeconds: t.peers[k], throughputRatio: ratio, gibps: (mib / 1024) / median(t.h2k),
        target: k === 0 ? '≥ 100% of the tool' : 'shown', met: k === 0 ? ratio >= 1 : undefined,
        commands: [shellLine(h2kArgv), shellLine(p)],
      });
    });
  }
  console.log(`h2k hash end to end (process start included) vs the classic tools; ${m.cpus} × ${m.model}; ` +
    `medians of ${repeat} interleaved runs (min..max); load average ${m.loadAtStart.toFixed(2)} at start; ${m.date}\n`);
  console.log(markdownTable(
    ['work', 'h2k', 'tool', 'tool time', 'h2k throughput / tool', 'h2k GiB/s', 'target', 'met'],
    rows.map((r) => [r.work, secondsWithSpread(r.h2kSeconds, 3), `\`${r.peer}\``, secondsWithSpread(r.peerSeconds, 3),
      `${(r.throughputRatio * 100).toFixed(0)}%`, r.gibps.toFixed(2), r.target, r.met === undefined ? '' : r.met ? 'yes' : 'NO']),
  ));
  writeResults('hash-cli', {
    ...m, repeat, bytes: mib * MiB, rows,
    summary: rows.filter((r) => r.met !== undefined).map((r) => ({
      work: `\`h2k hash\` ${r.work}`, h2k: secondsWithSpread(r.h2kSeconds, 3), peer: `${r.peer} ${secondsWithSpread(r.peerSeconds, 3)}`,
      ratio: `${(r.throughputRatio * 100).toFixed(0)}% of its throughput`, target: r.target, met: r.met, commands: r.commands,
    })),
  });
}

main();
