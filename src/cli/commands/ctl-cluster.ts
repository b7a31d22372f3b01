// h2k ctl --queue-url URL status|stats: the cluster as its database sees it (hosts alive, jobs per
// host, queue depth, throughput), read without joining the cluster. The password never shows.
import { PgJobQueue, type ClusterStatus } from '../../daemon/queue/pg-queue.js';
import { H2kError } from '../../util/errors.js';

export async function clusterStatus(url: string, host?: string): Promise<ClusterStatus & { queue_url: string }> {
  const q = await PgJobQueue.observe({ url });
  try {
    const s = await q.clusterStatus();
    if (host && !s.hosts.some((h) => h.hostName === host))
      throw new H2kError(`no host ${host} in the cluster at ${q.shownUrl}`, { code: 'E_USAGE', hint: `hosts: ${s.hosts.map((h) => h.hostName).join(', ') || 'none'}` });
    return { queue_url: q.shownUrl, ...s, hosts: host ? s.hosts.filter((h) => h.hostName === host) : s.hosts };
  } finally {
    await q.close();
  }
}

export function humanCluster(s: ClusterStatus & { queue_url: string }): string {
  const alive = s.hosts.filter((h) => h.alive).length;
  return [
    `Cluster: ${s.queue_url}`,
    `  Hosts: ${alive} alive of ${s.hosts.length}`,
    `  Queue Depth: ${s.waiting}  Running: ${s.running}  Done: ${s.done}  Failed: ${s.failed}`,
    `  Throughput: ${s.finishedLastMinute} job(s) finished in the last minute`,
    ...s.hosts.map((h) => `  Host ${h.hostName}: ${h.alive ? 'alive' : 'silent'} (last seen ${h.lastSeen}, pid ${h.pid ?? '-'}), ${h.running} running, ${h.done} done, ${h.failed} failed`),
  ].join('\n');
}
