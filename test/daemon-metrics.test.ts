// The metrics endpoint as Prometheus reads it: the real daemon with metrics_listen on a free
// port, scraped before any job, while paused, and after one conversion and one failure. Every
// scrape goes through `promtool check metrics` (Debian's prometheus package: a real parser and
// linter) and a strict text-format parser (test/helpers/prom-text.ts) for the assertions.
import { describe, expect, it } from 'vitest';
import { closeSync, copyFileSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { makeSeededRaw, toVmdk } from './helpers/fixtures.js';
import { daemonTestScope } from './helpers/daemon-harness.js';
import { parsePromText, promtoolCheck, valueOf, type Family } from './helpers/prom-text.js';
import { DaemonMetrics, DURATION_BUCKETS, OUTPUT_BYTES_BUCKETS } from '../src/service/metrics.js';
import { DaemonStats } from '../src/service/stats.js';

const { fx, start } = daemonTestScope('daemon-metrics-fx');

// prom-client's default Node.js gauges carry a `_total` suffix under their standard names;
// promtool's linter flags those and nothing else may be flagged.
const PROM_CLIENT_LINT = /^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/;

async function scrape(address: string): Promise<{ text: string; families: Map<string, Family> }> {
  const res = await fetch(`http://${address}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const check = promtoolCheck(text);
  expect(check.code, check.output).not.toBe(1); // 1: parse error
  for (const line of check.output.split('\n').filter(Boolean)) expect(line).toMatch(PROM_CLIENT_LINT);
  return { text, families: parsePromText(text) };
}

const H2K_COUNTERS = ['h2k_processed_total', 'h2k_failed_total', 'h2k_retried_total', 'h2k_output_bytes_total', 'h2k_duplicates_skipped_total'];
const PER_TYPE = ['h2k_processed_total', 'h2k_failed_total', 'h2k_retried_total', 'h2k_output_bytes_total'];
const H2K_GAUGES = ['h2k_queue_depth', 'h2k_jobs_running', 'h2k_paused', 'h2k_draining', 'h2k_uptime_seconds', 'h2k_build_info'];
const H2K_HISTOGRAMS = ['h2k_job_duration_seconds', 'h2k_job_output_bytes'];

/** Names, types and conventions every scrape must satisfy. */
function expectConventions(families: Map<string, Family>, fileTypes: string[]): void {
  const h2k = [...families.values()].filter((f) => f.name.startsWith('h2k_'));
  expect(h2k.map((f) => f.name).sort()).toEqual([...H2K_COUNTERS, ...H2K_GAUGES, ...H2K_HISTOGRAMS].sort());
  for (const n of H2K_COUNTERS) expect(families.get(n)?.type, n).toBe('counter');
  for (const n of H2K_GAUGES) expect(families.get(n)?.type, n).toBe('gauge');
  for (const n of H2K_HISTOGRAMS) expect(families.get(n)?.type, n).toBe('histogram');
  for (const f of families.values()) {
    expect(f.help, `${f.name} has HELP`).not.toBe('');
    if (f.type === 'counter') expect(f.name).toMatch(/_total$/);
    if (f.name.startsWith('h2k_') && f.type !== 'counter') expect(f.name).not.toMatch(/_total$/);
    if (f.name.startsWith('h2k_')) expect(f.samples.length, `${f.name} has samples`).toBeGreaterThan(0);
  }
  // Node's defaults under their standard names, not prefixed.
  for (const n of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes'])
    expect(families.has(n), n).toBe(true);
  expect([...families.keys()].filter((n) => /^h2k_(process|nodejs)_/.test(n))).toEqual([]);
  // a single host: no cluster gauges, no host label (test/daemon-cluster-control.test.ts has the cluster's)
  expect([...families.keys()].filter((n) => n.startsWith('h2k_cluster_'))).toEqual([]);
  expect([...families.values()].flatMap((f) => f.samples).filter((x) => 'host' in x.labels)).toEqual([]);
  // Label sets.
  for (const n of PER_TYPE) {
    for (const s of families.get(n)!.samples) expect(Object.keys(s.labels)).toEqual(['file_type']);
    const types = families.get(n)!.samples.map((s) => s.labels.file_type);
    for (const t of fileTypes) expect(types, `${n} has file_type="${t}"`).toContain(t);
  }
  for (const n of ['h2k_duplicates_skipped_total', 'h2k_queue_depth', 'h2k_jobs_running', 'h2k_paused', 'h2k_draining', 'h2k_uptime_seconds']) {
    expect(families.get(n)!.samples).toHaveLength(1);
    expect(families.get(n)!.samples[0].labels).toEqual({});
  }
  const info = families.get('h2k_build_info')!.samples;
  expect(info).toHaveLength(1);
  expect(Object.keys(info[0].labels).sort()).toEqual(['addon_xxh3_isa', 'node', 'version']);
  expect(info[0].value).toBe(1);
  for (const n of ['h2k_paused', 'h2k_draining']) expect([0, 1]).toContain(valueOf(families, n));
  for (const [n, buckets] of [['h2k_job_duration_seconds', DURATION_BUCKETS], ['h2k_job_output_bytes', OUTPUT_BYTES_BUCKETS]] as const)
    for (const t of fileTypes) expectHistogram(families, n, t, buckets);
}

/** Every bucket of the series, cumulative, +Inf = _count; returns [count, sum]. */
function expectHistogram(families: Map<string, Family>, name: string, fileType: string, buckets: readonly number[]): [number, number] {
  const samples = families.get(name)!.samples.filter((s) => s.labels.file_type === fileType);
  const b = samples.filter((s) => s.name === `${name}_bucket`);
  expect(b.map((s) => s.labels.le)).toEqual([...buckets.map(String), '+Inf']);
  for (const s of b) expect(Object.keys(s.labels).sort()).toEqual(['file_type', 'le']);
  for (let i = 1; i < b.length; i++) expect(b[i].value).toBeGreaterThanOrEqual(b[i - 1].value);
  const count = valueOf(families, `${name}_count`, { file_type: fileType })!;
  const sum = valueOf(families, `${name}_sum`, { file_type: fileType })!;
  expect(b.at(-1)!.value).toBe(count);
  expect(sum).toBeGreaterThanOrEqual(0);
  return [count, sum];
}

describe('metrics endpoint (Prometheus text format)', () => {
  it('before any job every counter is 0; after a conversion and a failure they count it; paused shows', { timeout: 180_000 }, async () => {
    const raw = makeSeededRaw(join(fx.dir, 'base.raw'), 8, 3);
    toVmdk(raw, join(fx.dir, 'whole.vmdk'), 'monolithicSparse');
    const h = await start({ config: { metrics_listen: '127.0.0.1:0', file_extensions: ['.img', '.vmdk'], threads: 1 } });
    const address = (await h.waitForEvent('metrics_listening')).address as string;
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(address).not.toMatch(/:0$/);

    // Before any job: every counter present, at 0, for each configured file type.
    const before = (await scrape(address)).families;
    expectConventions(before, ['img', 'vmdk']);
    for (const n of H2K_COUNTERS) for (const s of before.get(n)!.samples) expect(s.value, `${n} ${JSON.stringify(s.labels)}`).toBe(0);
    for (const n of H2K_HISTOGRAMS) for (const s of before.get(n)!.samples) expect(s.value, `${n} ${JSON.stringify(s.labels)}`).toBe(0);
    expect(valueOf(before, 'h2k_queue_depth')).toBe(0);
    expect(valueOf(before, 'h2k_jobs_running')).toBe(0);
    expect(valueOf(before, 'h2k_paused')).toBe(0);
    expect(valueOf(before, 'h2k_draining')).toBe(0);
    const [info] = before.get('h2k_build_info')!.samples;
    expect(info.labels.version).toBe(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version);
    expect(info.labels.node).toBe(process.version);
    expect(info.labels.addon_xxh3_isa).toMatch(/^(avx512|avx2|sse2)$/);
    expect(info.value).toBe(1);

    expect((await h.ctl(['pause'])).code).toBe(0);
    expect(valueOf((await scrape(address)).families, 'h2k_paused')).toBe(1);
    expect((await h.ctl(['resume'])).code).toBe(0);
    expect(valueOf((await scrape(address)).families, 'h2k_paused')).toBe(0);

    // One conversion (.img) and one failure (a .vmdk cut short).
    copyFileSync(raw, join(fx.dir, 'ok.img'));
    copyFileSync(join(fx.dir, 'ok.img'), join(h.watchDir, 'ok.img'));
    const fd = openSync(join(h.watchDir, 'broken.vmdk'), 'w');
    writeSync(fd, readFileSync(join(fx.dir, 'whole.vmdk')).subarray(0, 200_000));
    closeSync(fd);
    await h.until('1 converted + 1 failed', () => h.count('job_succeeded') === 1 && h.count('job_failed') === 1, 90_000);
    const written = Number(h.events.find((e) => e.event === 'job_succeeded')!.bytes_written);
    expect(written).toBeGreaterThan(0);

    const after = (await scrape(address)).families;
    expectConventions(after, ['img', 'vmdk']);
    expect(valueOf(after, 'h2k_processed_total', { file_type: 'img' })).toBe(1);
    expect(valueOf(after, 'h2k_processed_total', { file_type: 'vmdk' })).toBe(0);
    expect(valueOf(after, 'h2k_failed_total', { file_type: 'vmdk' })).toBe(1);
    expect(valueOf(after, 'h2k_failed_total', { file_type: 'img' })).toBe(0);
    expect(valueOf(after, 'h2k_output_bytes_total', { file_type: 'img' })).toBe(written);
    expect(valueOf(after, 'h2k_duplicates_skipped_total')).toBe(0);
    expect(valueOf(after, 'h2k_queue_depth')).toBe(0);
    expect(valueOf(after, 'h2k_jobs_running')).toBe(0);
    const [dCount, dSum] = expectHistogram(after, 'h2k_job_duration_seconds', 'img', DURATION_BUCKETS);
    expect(dCount).toBe(1);
    expect(dSum).toBeGreaterThan(0);
    expect(valueOf(after, 'h2k_job_duration_seconds_bucket', { file_type: 'img', le: '28800' })).toBe(1);
    const [bCount, bSum] = expectHistogram(after, 'h2k_job_output_bytes', 'img', OUTPUT_BYTES_BUCKETS);
    expect(bCount).toBe(1);
    expect(bSum).toBe(written);
    // The job's bytes fall in the first bucket at or above them.
    const le = OUTPUT_BYTES_BUCKETS.find((x) => x >= written)!;
    expect(valueOf(after, 'h2k_job_output_bytes_bucket', { file_type: 'img', le: String(le) })).toBe(1);
    const below = OUTPUT_BYTES_BUCKETS.filter((x) => x < written).at(-1);
    if (below) expect(valueOf(after, 'h2k_job_output_bytes_bucket', { file_type: 'img', le: String(below) })).toBe(0);
    expect(expectHistogram(after, 'h2k_job_duration_seconds', 'vmdk', DURATION_BUCKETS)[0]).toBe(0); // failures are not timed
    expect(valueOf(after, 'h2k_uptime_seconds')).toBeGreaterThan(0);
  });

  it('a draining or paused snapshot sets h2k_draining / h2k_paused; queue and running figures pass through', async () => {
    const m = new DaemonMetrics({ fileTypes: ['.VMDK', 'ova', '.vmdk'], version: '9.9.9', addonXxh3Isa: 'sse2' });
    const stats = new DaemonStats();
    for (const [state, paused, draining] of [['draining', 0, 1], ['paused', 1, 0], ['running', 0, 0]] as const) {
      const text = await m.render(stats.snapshot({ state, queueDepth: 4, retryWaiting: 1, inFlight: 2 }));
      expect(promtoolCheck(text).code).not.toBe(1);
      const f = parsePromText(text);
      expectConventions(f, ['vmdk', 'ova']);
      expect(valueOf(f, 'h2k_paused')).toBe(paused);
      expect(valueOf(f, 'h2k_draining')).toBe(draining);
      expect(valueOf(f, 'h2k_queue_depth')).toBe(4);
      expect(valueOf(f, 'h2k_jobs_running')).toBe(2);
      expect(f.get('h2k_processed_total')!.samples.map((s) => s.labels.file_type)).toEqual(['vmdk', 'ova']);
      expect(f.get('h2k_build_info')!.samples[0].labels).toEqual({ version: '9.9.9', node: process.version, addon_xxh3_isa: 'sse2' });
    }
  });

  it('the Grafana dashboard queries only metrics the daemon exposes, and covers the operations panels', async () => {
    const dash = JSON.parse(readFileSync(new URL('../examples/grafana/h2k-dashboard.json', import.meta.url), 'utf8'));
    const exprs: string[] = dash.panels.flatMap((p: { targets?: { expr: string }[] }) => (p.targets ?? []).map((t) => t.expr));
    const families = parsePromText(await new DaemonMetrics({ fileTypes: ['.img'] }).render(new DaemonStats().snapshot({ state: 'running', queueDepth: 0, retryWaiting: 0, inFlight: 0 })));
    const used = new Set(exprs.flatMap((e) => e.match(/\bh2k_[a-z0-9_]+/g) ?? []));
    for (const name of used) expect(families.has(name.replace(/_(bucket|sum|count)$/, '')), name).toBe(true);
    for (const name of ['h2k_queue_depth', 'h2k_jobs_running', 'h2k_output_bytes_total', 'h2k_processed_total', 'h2k_failed_total', 'h2k_job_duration_seconds_bucket', 'h2k_paused', 'h2k_draining'])
      expect(used.has(name), name).toBe(true);
    expect(exprs.some((e) => /histogram_quantile\(0\.9, sum by \(le\) \(rate\(h2k_job_duration_seconds_bucket/.test(e))).toBe(true);
    expect(exprs.some((e) => /rate\(h2k_output_bytes_total/.test(e))).toBe(true);
  });

  it('the strict parser rejects malformed exposition text', () => {
    expect(() => parsePromText('# TYPE a counter\na_total 1\n')).toThrow(/without a declared family/);
    expect(() => parsePromText('# TYPE a_total counter\na_total{x="1} 1\n')).toThrow();
    expect(() => parsePromText('# TYPE a_total counter\na_total one\n')).toThrow(/bad sample value/);
    expect(() => parsePromText('# TYPE a_total counter\na_total 1')).toThrow(/newline/);
    expect(parsePromText('# HELP a_total x\n# TYPE a_total counter\na_total{x="1",y="\\"q\\""} 2\n').get('a_total')!.samples[0]).toEqual({ name: 'a_total', labels: { x: '1', y: '\\"q\\"' }, value: 2 });
  });
});
