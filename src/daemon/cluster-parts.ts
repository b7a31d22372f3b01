// With queue_url: what a daemon of a cluster uses instead of the single-host parts — the
// PostgreSQL job queue (src/daemon/queue/pg-queue.ts) and the cluster's dedup store
// (src/dedup/pg-store.ts), both on the database's schema made or migrated at start. An
// unreachable database at start fails the start (E_QUEUE_UNREACHABLE, exit 69).
import { PgJobQueue } from './queue/pg-queue.js';
import { PgDedupStore } from '../dedup/pg-store.js';
import type { Logger } from '../service/logger.js';
import type { DesiredState } from './queue/pg-control.js';

export interface ClusterConfig {
  queue_url: string;
  host_name?: string;
  lease_seconds?: number;
  cluster_max_jobs?: number;
  enable_deduplication?: boolean;
  /** finished jobs, dead hosts and filed manifest runs older than this leave the database (default 90) */
  deduplication_retention_days?: number;
}

export interface ClusterParts {
  queue: PgJobQueue;
  dedup?: PgDedupStore;
  close(): Promise<void>;
}

/** How often a cluster daemon looks for work a dead host left (new work wakes it at once,
 * pg-wakeup.ts; the poll also covers a wakeup connection being re-made). */
export const CLUSTER_POLL_MS = 1000;
/** The cluster's history is trimmed at start and then once a day (any host may do it: idempotent). */
const PURGE_EVERY_MS = 24 * 3600 * 1000;

/** onLeaseLost: a job this host ran was taken over by another host; onWork: a job became
 * claimable; onDesired: the cluster asks this host to run, pause or drain (h2k ctl --queue-url). */
export async function openClusterParts(
  cfg: ClusterConfig, log: Logger, onLeaseLost: (id: string) => void, onWork?: () => void, onDesired?: (desired: DesiredState) => void,
): Promise<ClusterParts> {
  const common = { url: cfg.queue_url, hostName: cfg.host_name, onError: (err: Error) => log.warn('queue_connection_error', err.message) };
  const queue = await PgJobQueue.open({ ...common, leaseSeconds: cfg.lease_seconds, clusterMaxJobs: cfg.cluster_max_jobs, onLeaseLost, onWork, onDesired });
  let dedup: PgDedupStore | undefined;
  try {
    if (cfg.enable_deduplication !== false) dedup = await PgDedupStore.open(common);
  } catch (err) {
    await queue.close().catch(() => undefined);
    throw err;
  }
  log.info('cluster_joined', `Joined the cluster at ${queue.shownUrl} as host ${queue.hostName} (lease ${queue.leaseSeconds}s)`, {
    host: queue.hostName,
    queue_url: queue.shownUrl,
  });
  const days = cfg.deduplication_retention_days ?? 90;
  const purge = () =>
    queue.purgeFinished(days).then(
      (n) => n > 0 && log.info('queue_purged', `Removed ${n} finished job(s) older than ${days} days from the cluster's queue`, { removed: n, days }),
      (err: Error) => log.warn('queue_purge_failed', `Queue purge failed: ${err.message}`),
    );
  await purge();
  const purgeTimer = setInterval(() => void purge(), PURGE_EVERY_MS);
  purgeTimer.unref();
  return {
    queue,
    dedup,
    close: async () => {
      clearInterval(purgeTimer);
      await queue.close();
      await dedup?.close().catch(() => undefined); // normally closed already by the Deduplicator
    },
  };
}
