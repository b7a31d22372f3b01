// h2k ctl --queue-url URL status|stats: the cluster as its database sees it (hosts alive, jobs per
// host, queue depth, throughput), read without joining the cluster. The password never shows.
// pause|resume|drain: asked of every host (or --host NAME) through the database (pg-control.ts).
import type { ClusterCommand, CommandResult } from '../../daemon/queue/pg-control.js';
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

export async function clusterCommand(url: string, command: ClusterCommand, host?: string): Promise<CommandResult & { queue_url: string }> {
  const q = await PgJobQueue.observe({ url });
  try {
    return { queue_url: q.shownUrl, ...(await q.command(command, host)) };
  } finally {
    await q.close();
  }
}

/** A host's state as status shows it: what it reported, or silent when its heartbeat stopped. */
function hostState(h: ClusterStatus['hosts'][number]): string {
  if (!h.alive) return 'silent';
  const state = h.state ?? 'running';
  return h.desired !== state && !(h.desired === 'running' && state === 'stopping') ? `${state}, asked: ${h.desired}` : state;
}

export function humanCluster(s: ClusterStatus & { queue_url: string }): string {
  const alive = s.hosts.filter((h) => h.alive).length;
  return [
    `Cluster: ${s.queue_url}`,
    `  Hosts: ${alive} alive of ${s.hosts.length}  Cluster: ${s.desired}`,
    `  Queue Depth: ${s.waiting}  Running: ${s.running}  Done: ${s.done}  Failed: ${s.failed}`,
    `  Throughput: ${s.finishedLastMinute} job(s) finished in the last minute`,
    ...s.hosts.map((h) => `  Host ${h.hostName}: ${hostState(h)} (last seen ${h.lastSeen}, pid ${h.pid ?? '-'}), ${h.running} running, ${h.done} done, ${h.failed} failed`),
  ].join('\n');
}
