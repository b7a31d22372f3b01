// Processing statistics: counters since the daemon first ran (reloaded from stats.json on start),
// per file type, plus live queue figures. One snapshot feeds stats.json, `h2k ctl stats`,
// SIGUSR1 and the Prometheus endpoint, so they always agree. The snapshot carries hyper2kvm's
// stats.json keys (a file either daemon wrote loads in the other) plus h2k's own.
import { readFile } from 'node:fs/promises';
import { formatDuration } from '../util/format.js';

interface TypeCounters {
  processed: number;
  failed: number;
  retried: number;
  total_time: number;
  bytes_written: number;
}

export interface TypeSummary {
  processed: number;
  failed: number;
  retried: number;
  success_rate_percent: number;
  average_time_seconds: number;
  /** running total behind the average (hyper2kvm's internal name for it) */
  total_time: number;
  bytes_written: number;
}

/** One job as hyper2kvm's stats report it (its JobStats). */
export interface JobEntry {
  filename: string;
  file_type: string;
  file_size_mb: number;
  start_time: string;
  end_time: string | null;
  duration_seconds: number | null;
  status: 'processing' | 'success' | 'failed' | 'retrying';
  error: string | null;
  retry_count: number;
  /** h2k: a running job's conversion so far (bytes of virtual disk; rate and ETA from the job's start) */
  progress?: JobProgress;
}

export interface JobProgress {
  bytes_done: number;
  bytes_total: number;
  percent: number;
  rate_bytes_per_second: number;
  eta_seconds: number | null;
}

export interface StatsSnapshot {
  daemon_start_time: string;
  uptime_seconds: number;
  uptime_hours: number;
  state: string;
  total_processed: number;
  total_failed: number;
  total_retried: number;
  total_duplicates_skipped: number;
  total_bytes_written: number;
  /** seconds spent on successful jobs since the first run: keeps the average across restarts */
  total_processing_time: number;
  success_rate_percent: number;
  avg_processing_time_seconds: number;
  /** hyper2kvm's name for the same figure */
  average_processing_time_seconds: number;
  current_queue_depth: number;
  retry_waiting: number;
  in_flight: number;
  current_jobs: JobEntry[];
  recent_completed: JobEntry[];
  last_activity: string;
  by_file_type: Record<string, TypeSummary>;
  last_updated: string;
  /** in a cluster (queue_url): this host's name */
  host_name?: string;
  /** in a cluster: the whole cluster's queue (current_queue_depth is the same waiting figure) */
  cluster_queue?: { waiting: number; running: number };
}

export interface LiveFigures {
  state: string;
  queueDepth: number;
  retryWaiting: number;
  inFlight: number;
}

const round2 = (n: number) => Math.round(n * 100) / 100;
const round3 = (n: number) => Math.round(n * 1000) / 1000;
const RECENT = 10;

export class DaemonStats {
  readonly startedAt = new Date();
  private processed = 0;
  private failed = 0;
  private retried = 0;
  private duplicates = 0;
  private bytesWritten = 0;
  private totalTime = 0;
  private readonly byType = new Map<string, TypeCounters>();
  private readonly current = new Map<string, JobEntry>();
  private readonly recent: JobEntry[] = [];
  lastActivity = new Date();

  /** Continues the counters of an earlier run from its stats.json (missing or bad file: start at zero). */
  async load(path: string): Promise<boolean> {
    let data: Partial<Record<keyof StatsSnapshot, unknown>> & { by_file_type?: Record<string, Partial<Record<keyof TypeSummary, unknown>>> };
    try {
      data = JSON.parse(await readFile(path, 'utf8'));
    } catch {
      return false;
    }
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
    this.processed = num(data.total_processed);
    this.failed = num(data.total_failed);
    this.retried = num(data.total_retried);
    this.duplicates = num(data.total_duplicates_skipped);
    this.bytesWritten = num(data.total_bytes_written);
    // The running total when the file has it (h2k); hyper2kvm writes only the rounded average.
    this.totalTime =
      data.total_processing_time !== undefined
        ? num(data.total_processing_time)
        : num(data.average_processing_time_seconds ?? data.avg_processing_time_seconds) * this.processed;
    for (const [type, t] of Object.entries(data.by_file_type ?? {}).slice(0, 256)) {
      if (!/^[a-z0-9]{1,16}$/.test(type) || !t) continue;
      this.byType.set(type, {
        processed: num(t.processed),
        failed: num(t.failed),
        retried: num(t.retried),
        total_time: t.total_time !== undefined ? num(t.total_time) : num(t.average_time_seconds) * num(t.processed),
        bytes_written: num(t.bytes_written),
      });
    }
    return true;
  }

  private type(t: string): TypeCounters {
    let c = this.byType.get(t);
    if (!c) this.byType.set(t, (c = { processed: 0, failed: 0, retried: 0, total_time: 0, bytes_written: 0 }));
    return c;
  }

  touch(): void {
    this.lastActivity = new Date();
  }

  jobStarted(id: string, filename: string, fileType: string, retryCount: number, sizeBytes = 0): void {
    this.touch();
    this.current.set(id, {
      filename,
      file_type: fileType,
      file_size_mb: round2(sizeBytes / 1048576),
      start_time: new Date().toISOString(),
      end_time: null,
      duration_seconds: null,
      status: 'processing',
      error: null,
      retry_count: retryCount,
    });
  }

  /** A running job's conversion progress (stats.json current_jobs, `h2k ctl status`). */
  jobProgress(id: string, bytesDone: number, bytesTotal: number): void {
    const job = this.current.get(id);
    if (!job) return;
    const seconds = (Date.now() - Date.parse(job.start_time)) / 1000;
    const rate = seconds > 0 ? bytesDone / seconds : 0;
    job.progress = {
      bytes_done: bytesDone,
      bytes_total: bytesTotal,
      percent: bytesTotal > 0 ? round2((100 * bytesDone) / bytesTotal) : 0,
      rate_bytes_per_second: Math.round(rate),
      eta_seconds: rate > 0 ? round2(Math.max(0, bytesTotal - bytesDone) / rate) : null,
    };
  }

  /** Files a running job under recent_completed (the job stays current until jobEnded). */
  private completed(id: string | undefined, status: 'success' | 'failed', seconds?: number, error?: string): void {
    const job = id === undefined ? undefined : this.current.get(id);
    if (!job) return;
    const end = new Date();
    const { progress: _, ...rest } = job;
    this.recent.push({
      ...rest,
      end_time: end.toISOString(),
      duration_seconds: round3(seconds ?? (end.getTime() - Date.parse(job.start_time)) / 1000),
      status,
      error: error ?? null,
    });
    if (this.recent.length > RECENT) this.recent.splice(0, this.recent.length - RECENT);
  }

  jobEnded(id: string): void {
    this.touch();
    this.current.delete(id);
  }

  succeeded(fileType: string, seconds: number, bytesWritten: number, id?: string): void {
    this.completed(id, 'success', seconds);
    this.processed++;
    this.totalTime += seconds;
    this.bytesWritten += bytesWritten;
    const t = this.type(fileType);
    t.processed++;
    t.total_time += seconds;
    t.bytes_written += bytesWritten;
  }

  failedJob(fileType: string, id?: string, error?: string): void {
    this.completed(id, 'failed', undefined, error);
    this.failed++;
    this.type(fileType).failed++;
  }

  retriedJob(fileType: string, id?: string): void {
    const job = id === undefined ? undefined : this.current.get(id);
    if (job) job.status = 'retrying';
    this.retried++;
    this.type(fileType).retried++;
  }

  duplicateSkipped(): void {
    this.duplicates++;
  }

  snapshot(live: LiveFigures): StatsSnapshot {
    const now = new Date();
    const uptime = (now.getTime() - this.startedAt.getTime()) / 1000;
    const done = this.processed + this.failed;
    const avg = this.processed > 0 ? this.totalTime / this.processed : 0;
    const byFileType: Record<string, TypeSummary> = {};
    for (const [type, t] of [...this.byType].sort(([a], [b]) => a.localeCompare(b))) {
      const n = t.processed + t.failed;
      byFileType[type] = {
        processed: t.processed,
        failed: t.failed,
        retried: t.retried,
        success_rate_percent: n > 0 ? round2((t.processed / n) * 100) : 0,
        average_time_seconds: t.processed > 0 ? round2(t.total_time / t.processed) : 0,
        total_time: round3(t.total_time),
        bytes_written: t.bytes_written,
      };
    }
    return {
      daemon_start_time: this.startedAt.toISOString(),
      uptime_seconds: round2(uptime),
      uptime_hours: round2(uptime / 3600),
      state: live.state,
      total_processed: this.processed,
      total_failed: this.failed,
      total_retried: this.retried,
      total_duplicates_skipped: this.duplicates,
      total_bytes_written: this.bytesWritten,
      total_processing_time: round3(this.totalTime),
      success_rate_percent: done > 0 ? round2((this.processed / done) * 100) : 0,
      avg_processing_time_seconds: round2(avg),
      average_processing_time_seconds: round2(avg),
      current_queue_depth: live.queueDepth,
      retry_waiting: live.retryWaiting,
      in_flight: live.inFlight,
      current_jobs: [...this.current.values()].map((j) => ({ ...j })),
      recent_completed: this.recent.map((j) => ({ ...j })),
      last_activity: this.lastActivity.toISOString(),
      by_file_type: byFileType,
      last_updated: now.toISOString(),
    };
  }
}

/** The human summary shared by `h2k ctl stats` and SIGUSR1: hyper2kvm's labels, so scripts that
 * grep for "Queue Depth" or "retried" (as its docs do) find them. */
export function formatStats(s: StatsSnapshot): string[] {
  const lines = [
    `Uptime: ${s.uptime_hours.toFixed(1)} hours (${formatDuration(s.uptime_seconds)})`,
    `Processed: ${s.total_processed}`,
    `Failed: ${s.total_failed}`,
    `Total retried: ${s.total_retried}`,
    `Duplicates Skipped: ${s.total_duplicates_skipped}`,
    `Success Rate: ${s.success_rate_percent.toFixed(1)}%`,
    `Avg Processing Time: ${s.avg_processing_time_seconds.toFixed(1)}s`,
    `Queue Depth: ${s.current_queue_depth}`,
    `In Flight: ${s.in_flight}`,
    ...(s.host_name ? [`Host: ${s.host_name}`] : []),
    ...(s.cluster_queue ? [`Cluster Queue: ${s.cluster_queue.waiting} waiting, ${s.cluster_queue.running} running`] : []),
  ];
  const types = Object.entries(s.by_file_type);
  if (types.length > 0) {
    lines.push('By File Type:');
    for (const [type, t] of types)
      lines.push(`  ${type}: ${t.processed} ok, ${t.failed} failed, ${t.success_rate_percent.toFixed(1)}% success`);
  }
  return lines;
}
