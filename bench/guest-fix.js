#!/usr/bin/env node
// Guest fix benchmark (not a test): `h2k fix` per Linux family against the Debian guest's fix in
// the same run. Issue 19's bound: no family takes more than 1.5x the Debian fix time. Each family's
// run sits between two Debian runs (Debian, A, Debian, B, Debian, ...) and is compared with the
// mean of its two neighbours, so a load that drifts during the run hits both sides. Every run
// works on a fresh qcow2 conversion (h2k convert) of the cached fixture disk (the guest tests'
// fixtures: scripts/make-debian-guest.sh, scripts/make-family-guest.sh; built on first use, which
// needs root and the Debian mirror). Writes bench/results/guest-fix.json (bench/summary.js).
//   node bench/guest-fix.js [--families rhel,suse,ubuntu,uefi] [--repeat 1]     (needs `npm run build`)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { h2kCli, machine, median, option, repo, shellLine, timed, writeResults } from './lib/measure.js';

const FAMILIES = String(option('families', 'rhel,suse,ubuntu,uefi')).split(',').filter(Boolean);
const REPEAT = Number(option('repeat', 1));
const BOUND = 1.5;
// what each guest's test asks of `h2k fix` (the Debian guest's also removes open-vm-tools)
const FIX_ARGS = ['--grub', '--initramfs', '--network', 'full', '--json'];
const DEBIAN_EXTRA = ['--remove-vmware-tools'];

function fixtureDisk(family) {
  const script = family === 'debian' ? ['scripts/make-debian-guest.sh'] : ['scripts/make-family-guest.sh', family];
  return execFileSync('bash', script, { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 60 * 60_000 }).trim().split('\n').pop();
}

const work = mkdtempSync(join(tmpdir(), 'h2k-bench-guest-fix-'));
const disks = Object.fromEntries(['debian', ...FAMILIES].map((f) => [f, fixtureDisk(f)]));
let seq = 0;

/** One timed fix of a fresh conversion: seconds and the load average around it. */
function fixRun(family) {
  const image = join(work, `${family}-${++seq}.qcow2`);
  execFileSync(h2kCli[0], [h2kCli[1], 'convert', '-O', 'qcow2', disks[family], image], { stdio: 'ignore' });
  const argv = [...h2kCli, 'fix', image, ...FIX_ARGS, ...(family === 'debian' ? DEBIAN_EXTRA : [])];
  const loadBefore = loadavg()[0];
  const r = timed(argv);
  rmSync(image, { force: true });
  const run = { family, seconds: r.seconds, load: [loadBefore, loadavg()[0]], command: shellLine(argv).replace(image, 'IMAGE') };
  console.log(`${family}: ${r.seconds.toFixed(1)} s (load ${run.load.map((l) => l.toFixed(1)).join(' -> ')})`);
  return run;
}

const start = machine();
const runs = [];
const ratios = Object.fromEntries(FAMILIES.map((f) => [f, []]));
try {
  let before = fixRun('debian');
  runs.push(before);
  for (let i = 0; i < REPEAT; i++) {
    for (const family of FAMILIES) {
      const mine = fixRun(family);
      const after = fixRun('debian');
      runs.push(mine, after);
      ratios[family].push({ seconds: mine.seconds, debian: (before.seconds + after.seconds) / 2, ratio: mine.seconds / ((before.seconds + after.seconds) / 2) });
      before = after;
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const debianCommand = runs.find((r) => r.family === 'debian').command;
const summary = FAMILIES.map((family) => {
  const rs = ratios[family];
  const ratio = median(rs.map((r) => r.ratio));
  return {
    work: `h2k fix, ${family}-like guest (TCG, appliance start included)`,
    h2k: `${median(rs.map((r) => r.seconds)).toFixed(1)} s`,
    peer: `Debian guest ${median(rs.map((r) => r.debian)).toFixed(1)} s (the runs either side)`,
    ratio: `${ratio.toFixed(2)}x`,
    target: `<= ${BOUND}x`,
    met: ratio <= BOUND,
    commands: [runs.find((r) => r.family === family).command, debianCommand],
  };
});
writeResults('guest-fix', { ...start, repeat: REPEAT, runs, summary });
for (const s of summary) console.log(`${s.work}: ${s.h2k} vs ${s.peer}: ${s.ratio} (${s.met ? 'met' : 'NOT met'})`);
