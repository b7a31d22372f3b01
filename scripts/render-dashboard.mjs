#!/usr/bin/env node
// Renders the panels of examples/grafana/h2k-dashboard.json from a real run, without Grafana:
// starts the built daemon (dist/) on a temp dir with metrics_listen, feeds it conversions, a
// corrupt file, a pause and a drain, scrapes /metrics every second, evaluates each panel's query
// the way Prometheus would (rate over a window, histogram_quantile over the bucket rates) and
// plots them with gnuplot (Debian's gnuplot-nox) into docs/grafana-panels.png.
//   npm run build && node scripts/render-dashboard.mjs [out.png]
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, mkdirSync, renameSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] ?? join(root, 'docs', 'grafana-panels.png'));
const dir = mkdtempSync(join(tmpdir(), 'h2k-dash-'));
const watch = join(dir, 'watch');
const output = join(dir, 'out');
mkdirSync(watch, { recursive: true });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Source images of a few sizes (seeded, partly incompressible) and a .vmdk cut short.
const raw = (mib, seed) => {
  const p = join(dir, `src-${mib}-${seed}.raw`);
  execFileSync(process.execPath, [join(root, 'scripts', 'make-seeded-raw.js'), p, String(mib), String(seed)]);
  return p;
};
const sizes = [96, 192, 320, 512, 256];
const sources = sizes.map((m, i) => raw(m, i + 1));
execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicSparse', sources[1], join(dir, 'whole.vmdk')]);
// Every drop is staged beforehand and renamed into the watch folder at its time, so the run's
// own file copying never stalls the scraper.
const staged = join(dir, 'staged');
mkdirSync(staged);
let n = 0;
const stage = (i) => {
  const name = `vm${String(++n).padStart(2, '0')}.img`;
  copyFileSync(sources[i % sources.length], join(staged, name));
  return name;
};
const stageBroken = () => {
  const name = `broken${++n}.vmdk`;
  writeFileSync(join(staged, name), readFileSync(join(dir, 'whole.vmdk')).subarray(0, 200_000));
  return name;
};
const plan = [
  [3, [0, 1, 2, 3, 4].map(stage)],
  [14, [stageBroken(), stage(1), stage(3)]],
  [26, [2, 3, 4, 5].map(stage)],
  [50, [stageBroken(), ...[0, 1, 2, 3].map(stage)]],
];
const drop = (names) => { for (const f of names) renameSync(join(staged, f), join(watch, f)); };

const config = {
  watch_dir: watch, output_dir: output, metrics_listen: '127.0.0.1:0', file_extensions: ['.img', '.vmdk'],
  max_concurrent_jobs: 2, threads: 1, compression: 'zlib', file_stable_timeout: 0.5, enable_deduplication: false,
  retry_policy: { enabled: true, max_retries: 1, retry_delay: 0.5, backoff_multiplier: 2 },
};
writeFileSync(join(dir, 'daemon.yaml'), JSON.stringify(config)); // JSON is YAML
const h2k = join(root, 'bin', 'h2k.js');
const daemon = spawn(process.execPath, [h2k, 'daemon', '--config', join(dir, 'daemon.yaml'), '--log-format', 'json'], { stdio: ['ignore', 'ignore', 'pipe'] });
const address = await new Promise((res, rej) => {
  let buf = '';
  daemon.stderr.on('data', (d) => {
    buf += d;
    for (const line of buf.split('\n')) {
      try {
        const e = JSON.parse(line);
        if (e.event === 'metrics_listening') res(e.address);
      } catch { /* partial line */ }
    }
    buf = buf.slice(buf.lastIndexOf('\n') + 1);
  });
  daemon.on('exit', () => rej(new Error('daemon exited before listening')));
});
const ctl = (cmd) => new Promise((r) => spawn(process.execPath, [h2k, 'ctl', '--output-dir', output, cmd], { stdio: 'ignore' }).on('exit', r));
let exited = false;
daemon.on('exit', () => (exited = true));

// The run: bursts of work, a corrupt file, a pause with files piling up, then a drain.
// Scrape every second: one map of series -> value per scrape.
const scrapes = [];
const t0 = Date.now();
const parse = (text) => {
  const m = new Map();
  for (const line of text.split('\n')) if (line && !line.startsWith('#')) {
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
};
const scraper = (async () => {
  while (!exited) {
    try {
      const text = await (await fetch(`http://${address}/metrics`)).text();
      scrapes.push({ t: (Date.now() - t0) / 1000, m: parse(text) });
    } catch { /* daemon going away */ }
    await sleep(1000);
  }
})();

const at = async (s) => sleep(Math.max(0, t0 + s * 1000 - Date.now()));
await at(plan[0][0]); drop(plan[0][1]);
await at(plan[1][0]); drop(plan[1][1]);
await at(24); await ctl('pause');
await at(plan[2][0]); drop(plan[2][1]);
await at(34); await ctl('resume');
await at(plan[3][0]); drop(plan[3][1]);
await at(51); await ctl('drain');
await new Promise((r) => (exited ? r() : daemon.on('exit', r)));
await scraper;

// Panel queries over the scrapes.
const W = 10; // rate window, seconds
const sumOf = (m, name, pred = () => true) => {
  let s = 0;
  for (const [k, v] of m) {
    const base = k.split('{')[0];
    if (base === name && pred(k)) s += v;
  }
  return s;
};
const at_ = (i) => scrapes[i];
const back = (i) => { let j = i; while (j > 0 && scrapes[i].t - scrapes[j - 1].t <= W) j--; return j; };
const rate = (i, f) => { const j = back(i); const dt = at_(i).t - at_(j).t; return dt > 0 ? Math.max(0, f(at_(i).m) - f(at_(j).m)) / dt : 0; };
const buckets = (m, name) => {
  const by = new Map();
  for (const [k, v] of m) if (k.startsWith(`${name}_bucket{`)) {
    const le = /le="([^"]+)"/.exec(k)[1];
    by.set(le, (by.get(le) ?? 0) + v);
  }
  return [...by].map(([le, v]) => [le === '+Inf' ? Infinity : Number(le), v]).sort((a, b) => a[0] - b[0]);
};
const quantile = (q, bs) => { // Prometheus' histogram_quantile
  const total = bs.at(-1)?.[1] ?? 0;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let i = bs.findIndex(([, c]) => c >= rank);
  if (bs[i][0] === Infinity) return bs[bs.length - 2][0];
  const [lo, cLo] = i === 0 ? [0, 0] : bs[i - 1];
  const [hi, cHi] = bs[i];
  return lo + (hi - lo) * ((rank - cLo) / (cHi - cLo));
};
const qOf = (i, name, q) => {
  const j = back(i);
  const now = buckets(at_(i).m, name), then = new Map(buckets(at_(j).m, name));
  return quantile(q, now.map(([le, c]) => [le, c - (then.get(le) ?? 0)]));
};
const rows = scrapes.map((s, i) => [
  s.t.toFixed(1),
  sumOf(s.m, 'h2k_queue_depth'),
  sumOf(s.m, 'h2k_jobs_running'),
  sumOf(s.m, 'h2k_paused'),
  sumOf(s.m, 'h2k_draining'),
  rate(i, (m) => sumOf(m, 'h2k_output_bytes_total')) / 2 ** 20,
  60 * rate(i, (m) => sumOf(m, 'h2k_processed_total')),
  60 * rate(i, (m) => sumOf(m, 'h2k_failed_total')),
  qOf(i, 'h2k_job_duration_seconds', 0.5),
  qOf(i, 'h2k_job_duration_seconds', 0.9),
  qOf(i, 'h2k_job_duration_seconds', 0.99),
].map((v) => (typeof v === 'number' && Number.isNaN(v) ? 'NaN' : v)).join(' '));
const data = join(dir, 'panels.dat');
writeFileSync(data, `${rows.join('\n')}\n`);
const last = scrapes.at(-1).m;
const info = [...last.keys()].find((k) => k.startsWith('h2k_build_info'));

const gp = `
set terminal pngcairo size 1200,640 font "DejaVu Sans,9" noenhanced
set output "${out}"
set multiplot layout 2,3 title "h2k dashboard panels, from a real scrape of a test daemon (${scrapes.length} scrapes, 1 s apart)\\n${info.replace(/"/g, '\\"')}" font ",10"
set grid lc rgb "#dddddd"
set key top left
set xlabel "seconds"
set style fill transparent solid 0.15
set yrange [0:*]
set title "Queue depth  (h2k_queue_depth)"
plot "${data}" u 1:2 w steps lw 2 lc rgb "#1f77b4" t "waiting"
set title "Running jobs  (h2k_jobs_running)"
plot "${data}" u 1:3 w steps lw 2 lc rgb "#ff7f0e" t "running"
set title "Paused / draining  (h2k_paused, h2k_draining)"
set yrange [-0.1:1.6]
set ytics ("no" 0, "yes" 1)
plot "${data}" u 1:4 w steps lw 2 lc rgb "#d62728" t "paused", "" u 1:($5*0.97) w steps lw 2 lc rgb "#9467bd" t "draining"
set ytics auto
set yrange [0:*]
set title "Throughput  rate(h2k_output_bytes_total[${W}s])"
set ylabel "MiB/s"
plot "${data}" u 1:6 w filledcurves y1=0 lc rgb "#2ca02c" t "written"
set ylabel "jobs/min"
set title "Success / failure rate  (h2k_processed_total, h2k_failed_total)"
plot "${data}" u 1:7 w lines lw 2 lc rgb "#2ca02c" t "succeeded", "" u 1:8 w lines lw 2 lc rgb "#d62728" t "failed"
set ylabel "seconds"
set title "Job duration p50/p90/p99  (h2k_job_duration_seconds)"
plot "${data}" u 1:9 w lines lw 2 t "p50", "" u 1:10 w lines lw 2 t "p90", "" u 1:11 w lines lw 2 t "p99"
unset multiplot
`;
mkdirSync(dirname(out), { recursive: true });
const g = spawnSync('gnuplot', [], { input: gp, encoding: 'utf8' });
if (g.status !== 0) {
  console.error(g.stderr);
  process.exit(1);
}
console.log(`${out}: ${scrapes.length} scrapes; data in ${data}`);
if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
