// Cluster control through the database: `h2k ctl --queue-url URL pause|resume|drain [--host NAME]`.
// h2k.cluster_control holds the state the whole cluster is asked to be in (running or paused: a
// host started later starts that way); h2k.hosts.desired_state a host's own override (paused,
// running, or draining: finish what it runs, then exit 0). A host's desired state is its override,
// else the cluster's. Each command notifies CONTROL_CHANNEL with the host it is for ('*': all);
// daemons read their desired state then (within a second) and at every heartbeat.
import type pg from 'pg';
import { H2kError } from '../../util/errors.js';
import { CONTROL_CHANNEL } from './pg-wakeup.js';

export type DesiredState = 'running' | 'paused' | 'draining';
export type ClusterCommand = 'pause' | 'resume' | 'drain';
export const CLUSTER_COMMANDS: readonly ClusterCommand[] = ['pause', 'resume', 'drain'];

type Query = <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => Promise<pg.QueryResult<R>>;

const ALIVE = `last_seen > now() - make_interval(secs => lease_seconds)`;

/** This host's desired state: its override, else the cluster's. */
export const READ_DESIRED = `SELECT coalesce(h.desired_state, c.desired_state) AS desired
  FROM h2k.hosts h CROSS JOIN h2k.cluster_control c WHERE h.host_name = $1`;

/** What a command did: the hosts it reached now (alive ones; for pause/resume of the whole
 * cluster, also every host started later). */
export interface CommandResult {
  command: ClusterCommand;
  host?: string;
  hosts: string[];
  message: string;
}

/** Applies a command to the whole cluster, or to one host (which must be known to the cluster). */
export async function commandCluster(query: Query, command: ClusterCommand, host?: string): Promise<CommandResult> {
  const notify = `pg_notify('${CONTROL_CHANNEL}', $1::text)`;
  if (!host) {
    // A cluster-wide pause/resume replaces every host's own override (but not a drain under way).
    const { rows } =
      command === 'drain'
        ? await query<{ host_name: string }>(
            `WITH h AS (UPDATE h2k.hosts SET desired_state = 'draining' WHERE ${ALIVE} RETURNING host_name)
             SELECT host_name, ${notify} FROM h ORDER BY host_name`, ['*'])
        : await query<{ host_name: string }>(
            `WITH c AS (UPDATE h2k.cluster_control SET desired_state = $2, changed_at = now()),
                  h AS (UPDATE h2k.hosts SET desired_state = NULL WHERE desired_state IS DISTINCT FROM 'draining')
             SELECT host_name, ${notify} FROM h2k.hosts WHERE ${ALIVE}
             UNION ALL SELECT NULL, ${notify} ORDER BY 1`, ['*', command === 'pause' ? 'paused' : 'running']);
    const hosts = rows.map((r) => r.host_name).filter((h): h is string => h !== null);
    const list = hosts.join(', ') || 'none alive';
    const message =
      command === 'drain'
        ? `Cluster draining: hosts ${list} take no new jobs, finish what they run, then exit`
        : `Cluster ${command === 'pause' ? 'paused' : 'resumed'}: hosts ${list}${command === 'pause' ? ' (running jobs finish; no new ones start; hosts started later start paused)' : ''}`;
    return { command, hosts, message };
  }
  const desired: DesiredState = command === 'pause' ? 'paused' : command === 'resume' ? 'running' : 'draining';
  const { rows } = await query<{ host_name: string }>(
    `WITH h AS (UPDATE h2k.hosts SET desired_state = $2 WHERE host_name = $1 AND ($2 = 'draining' OR desired_state IS DISTINCT FROM 'draining') RETURNING host_name)
     SELECT host_name, ${notify} FROM h`, [host, desired]);
  if (rows.length === 0) {
    const known = await query<{ host_name: string; desired_state: string | null }>(`SELECT host_name, desired_state FROM h2k.hosts ORDER BY host_name`);
    if (known.rows.some((r) => r.host_name === host))
      throw new H2kError(`host ${host} is draining; it cannot be paused or resumed`, { code: 'E_USAGE', hint: 'it exits once its running jobs finish; start it again to resume it' });
    throw new H2kError(`no host ${host} in the cluster`, { code: 'E_USAGE', hint: `hosts: ${known.rows.map((r) => r.host_name).join(', ') || 'none'}` });
  }
  const what = desired === 'draining' ? 'draining (no new jobs, finishes what it runs, then exits)' : desired === 'paused' ? 'paused' : 'resumed';
  return { command, host, hosts: [host], message: `Host ${host} ${what}` };
}
