// Prometheus endpoint (prom-client, its own registry: no process-global state). Counters and
// gauges are filled from the same StatsSnapshot as stats.json at scrape time, so a scrape, the
// file and `h2k ctl stats` agree; the job histograms are observed as jobs finish.
//
// Names follow Prometheus conventions: counters end in `_total`, gauges never do, units are in
// the name (`_seconds`, `_bytes`). Every counter and histogram is present from the first scrape:
// the per-type series of the configured file types (the watch folder's file_extensions, the
// manifest daemon's "manifest") start at 0. Node's default metrics keep their standard names
// (process_*, nodejs_*). Both daemons expose the same names. In a cluster (queue_url) every series
// carries host="<host_name>" and two cluster gauges are added.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { nativeHashImplementation } from '../native/hash-api.js';
import { H2kError } from '../util/errors.js';
import type { StatsSnapshot } from './stats.js';

/** Job wall time: a few seconds (a small image) to several hours (a multi-TB disk). */
export const DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800];
/** Output bytes per job: 1 MiB to 4 TiB, by 4. */
export const OUTPUT_BYTES_BUCKETS = Array.from({ length: 12 }, (_, i) => 2 ** (20 + 2 * i));

export interface MetricsOptions {
  /** file_type label values pre-created at 0 (e.g. the configured file_extensions) */
  fileTypes?: readonly string[];
  /** build_info labels */
  version?: string;
  addonXxh3Isa?: string;
  /** in a cluster: every series gets host="NAME", and the cluster's queue gauges are added */
  hostName?: string;
}

/** The native addon's XXH3 build ("avx512", "avx2", "sse2"), or "unavailable" without the addon. */
export function addonXxh3Isa(): string {
  try {
    return nativeHashImplementation().xxh3Isa;
  } catch {
    return 'unavailable';
  }
}

/** A file_type label value as stats.json keys it (extension without the dot, lower case). */
export const fileTypeLabel = (ext: string) => ext.replace(/^\./, '').toLowerCase();

export class DaemonMetrics {
  readonly registry = new Registry();
  private latest?: StatsSnapshot;
  private readonly durationHist: Histogram<'file_type'>;
  private readonly outputBytesHist: Histogram<'file_type'>;
  private readonly fileTypes: string[];

  constructor(opts: MetricsOptions = {}) {
    const reg = this.registry;
    const latest = () => this.latest;
    this.fileTypes = [...new Set((opts.fileTypes ?? []).map(fileTypeLabel).filter(Boolean))];
    const types = this.fileTypes;
    const perType = (name: string, help: string, pick: (t: StatsSnapshot['by_file_type'][string]) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['file_type'],
        registers: [reg],
        collect() {
          const s = latest();
          this.reset();
          for (const type of types) this.inc({ file_type: type }, 0);
          if (!s) return;
          for (const [type, t] of Object.entries(s.by_file_type)) this.inc({ file_type: type }, pick(t));
        },
      });
    perType('h2k_processed_total', 'Jobs converted successfully', (t) => t.processed);
    perType('h2k_failed_total', 'Jobs that failed for good', (t) => t.failed);
    perType('h2k_retried_total', 'Retries scheduled after transient errors', (t) => t.retried);
    perType('h2k_output_bytes_total', 'Bytes of converted output written by successful jobs', (t) => t.bytes_written);
    new Counter({
      name: 'h2k_duplicates_skipped_total',
      help: 'Sources skipped as duplicates of earlier ones',
      registers: [reg],
      collect() {
        this.reset();
        this.inc(latest()?.total_duplicates_skipped ?? 0);
      },
    });
    const gauge = (name: string, help: string, pick: (s: StatsSnapshot) => number) =>
      new Gauge({
        name,
        help,
        registers: [reg],
        collect() {
          const s = latest();
          this.set(s ? pick(s) : 0);
        },
      });
    gauge('h2k_queue_depth', 'Jobs waiting to start (including retry backoff)', (s) => s.current_queue_depth);
    gauge('h2k_jobs_running', 'Jobs running now', (s) => s.in_flight);
    gauge('h2k_paused', '1 while paused (running jobs finish, no new ones start)', (s) => (s.state === 'paused' ? 1 : 0));
    gauge('h2k_draining', '1 while draining (no new work accepted; exits when the queue is empty)', (s) => (s.state === 'draining' ? 1 : 0));
    gauge('h2k_uptime_seconds', 'Seconds since the daemon started', (s) => s.uptime_seconds);
    if (opts.hostName) {
      // The same figure on every host of the cluster (its database's): aggregate with max(), not sum().
      gauge('h2k_cluster_queue_depth', 'Jobs waiting in the whole cluster (every host, retry backoff included)', (s) => s.cluster_queue?.waiting ?? 0);
      gauge('h2k_cluster_jobs_running', 'Jobs running on all hosts of the cluster', (s) => s.cluster_queue?.running ?? 0);
      reg.setDefaultLabels({ host: opts.hostName });
    }
    new Gauge({
      name: 'h2k_build_info',
      help: 'Always 1; labels: h2k version, Node.js version, XXH3 instruction set of the native addon',
      labelNames: ['version', 'node', 'addon_xxh3_isa'],
      registers: [reg],
    }).set({ version: opts.version ?? 'unknown', node: process.version, addon_xxh3_isa: opts.addonXxh3Isa ?? addonXxh3Isa() }, 1);
    this.durationHist = new Histogram({
      name: 'h2k_job_duration_seconds',
      help: 'Wall time of successful jobs',
      labelNames: ['file_type'],
      buckets: DURATION_BUCKETS,
      registers: [reg],
    });
    this.outputBytesHist = new Histogram({
      name: 'h2k_job_output_bytes',
      help: 'Bytes of converted output written per successful job',
      labelNames: ['file_type'],
      buckets: OUTPUT_BYTES_BUCKETS,
      registers: [reg],
    });
    for (const t of types) {
      this.durationHist.zero({ file_type: t });
      this.outputBytesHist.zero({ file_type: t });
    }
    collectDefaultMetrics({ register: reg });
  }

  /** One successful job: its wall time and the bytes it wrote. */
  observeJob(fileType: string, seconds: number, outputBytes?: number): void {
    this.durationHist.observe({ file_type: fileType }, seconds);
    if (outputBytes !== undefined && Number.isFinite(outputBytes) && outputBytes >= 0)
      this.outputBytesHist.observe({ file_type: fileType }, outputBytes);
  }

  /** Prometheus text for a snapshot taken just now. */
  async render(snapshot: StatsSnapshot): Promise<string> {
    this.latest = snapshot;
    return this.registry.metrics();
  }
}

/** Parses "host:port" / "[::1]:port". */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(\[([0-9a-fA-F:]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[4]) : NaN;
  if (!m || port > 65535) throw new H2kError(`bad metrics_listen '${listen}'`, { code: 'E_CONFIG', hint: 'use host:port, e.g. 127.0.0.1:9477' });
  return { host: m[2] ?? m[3], port };
}

export async function startMetricsServer(
  listen: string,
  metrics: DaemonMetrics,
  snapshot: () => Promise<StatsSnapshot>,
): Promise<{ server: Server; address: string }> {
  const { host, port } = parseListen(listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || (path !== '/metrics' && path !== '/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /metrics\n');
      return;
    }
    snapshot()
      .then((s) => metrics.render(s))
      .then((text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text))
      .catch((err) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`));
  });
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', (err) =>
      reject(new H2kError(`cannot listen on ${listen} for metrics: ${(err as Error).message}`, { code: 'E_CONFIG', cause: err,
        hint: 'pick a free port in metrics_listen' })));
    server.listen(port, host, () => resolvePromise());
  });
  const addr = server.address();
  const address = addr && typeof addr === 'object' ? `${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}` : listen;
  return { server, address };
}
