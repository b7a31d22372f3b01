// Prometheus endpoint (prom-client, its own registry: no process-global state). Counters and
// gauges are filled from the same StatsSnapshot as stats.json at scrape time, so a scrape, the
// file and `h2k ctl stats` agree; the duration histogram is observed as jobs finish.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { H2kError } from '../util/errors.js';
import type { StatsSnapshot } from './stats.js';

export class DaemonMetrics {
  readonly registry = new Registry();
  private latest?: StatsSnapshot;
  readonly duration: Histogram<'file_type'>;

  constructor() {
    const reg = this.registry;
    const latest = () => this.latest;
    const perType = (name: string, help: string, pick: (t: StatsSnapshot['by_file_type'][string]) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['file_type'],
        registers: [reg],
        collect() {
          const s = latest();
          if (!s) return;
          this.reset();
          for (const [type, t] of Object.entries(s.by_file_type)) this.inc({ file_type: type }, pick(t));
        },
      });
    perType('h2k_processed_total', 'Images converted successfully', (t) => t.processed);
    perType('h2k_failed_total', 'Images that failed for good (moved to .errors/)', (t) => t.failed);
    perType('h2k_retried_total', 'Retries scheduled after transient errors', (t) => t.retried);
    perType('h2k_bytes_written_total', 'Bytes of converted output written', (t) => t.bytes_written);
    new Counter({
      name: 'h2k_duplicates_skipped_total',
      help: 'Sources skipped as duplicates of earlier ones',
      registers: [reg],
      collect() {
        const s = latest();
        if (!s) return;
        this.reset();
        this.inc(s.total_duplicates_skipped);
      },
    });
    new Gauge({
      name: 'h2k_queue_depth',
      help: 'Jobs waiting (including retry backoff)',
      registers: [reg],
      collect() {
        const s = latest();
        if (s) this.set(s.current_queue_depth);
      },
    });
    new Gauge({
      name: 'h2k_in_flight',
      help: 'Conversions running now',
      registers: [reg],
      collect() {
        const s = latest();
        if (s) this.set(s.in_flight);
      },
    });
    new Gauge({
      name: 'h2k_uptime_seconds',
      help: 'Seconds since the daemon started',
      registers: [reg],
      collect() {
        const s = latest();
        if (s) this.set(s.uptime_seconds);
      },
    });
    this.duration = new Histogram({
      name: 'h2k_conversion_duration_seconds',
      help: 'Wall time of successful conversions',
      labelNames: ['file_type'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400],
      registers: [reg],
    });
    collectDefaultMetrics({ register: reg, prefix: 'h2k_' });
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
