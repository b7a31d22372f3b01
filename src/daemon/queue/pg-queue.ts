// The cluster's JobQueue: one PostgreSQL table (pg-schema.ts) shared by every daemon pointed at
// the same queue_url. Claims take the oldest due row with FOR UPDATE SKIP LOCKED, so concurrent
// claimers never wait for each other nor take the same job. A claim is a lease: host_name, a
// random claim token made by the host and lease_until = now() + lease_seconds (the database's clock,
// the one clock all hosts share). A timer renews the leases of the jobs this process holds every
// lease_seconds / 3; a host that stops renewing (killed, powered off, cut off) loses its jobs to
// the next claim after lease_until. Every change of a claimed job names its claim token, so a
// host whose lease was taken over can no longer complete, fail or retry that job
// (E_QUEUE_LEASE_LOST). With cluster_max_jobs, claims are serialised by an advisory lock and
// count the live leases of the whole cluster in the same transaction.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type pg from 'pg';
import { H2kError } from '../../util/errors.js';
import type { Job, JobQueue, JobSpec, QueueCounts } from './job-queue.js';
import { connectCluster, type PgConnectOptions, type PgConnection } from './pg-connect.js';
import { LOCK_CLUSTER_LIMIT } from './pg-schema.js';
import { PgWakeup, WAKE_CHANNEL } from './pg-wakeup.js';
import { untilQueueAnswers } from './queue-retry.js';
import { commandCluster, READ_DESIRED, type ClusterCommand, type CommandResult, type DesiredState } from './pg-control.js';

export interface PgQueueOptions extends PgConnectOptions {
  /** this daemon's name in the cluster; default the machine's hostname */
  hostName?: string;
  /** seconds a claim lives without a heartbeat (default 30) */
  leaseSeconds?: number;
  /** jobs running at once in the whole cluster; 0 or absent: no limit */
  clusterMaxJobs?: number;
  /** a job this host held was taken over after its lease expired (heartbeats did not get through) */
  onLeaseLost?: (id: string) => void;
  /** another host (or this one) made a job claimable: claim now rather than at the next poll */
  onWork?: () => void;
  /** the state the cluster asks this host to be in (pg-control.ts): at start, when it changes, and
   * when a control command names this host or the whole cluster (`commanded`, even if unchanged) */
  onDesired?: (desired: DesiredState, commanded: boolean) => void;
}

/** The cluster as `h2k ctl status|stats` shows it. */
export interface ClusterStatus {
  hosts: {
    hostName: string;
    pid: number | null;
    startedAt: string;
    lastSeen: string;
    /** heartbeat seen within its lease_seconds */
    alive: boolean;
    /** the run state it last reported (running, paused, draining, stopping) */
    state: string | null;
    /** what the cluster asks of it: its own override, else the cluster's */
    desired: DesiredState;
    running: number;
    done: number;
    failed: number;
  }[];
  waiting: number;
  running: number;
  done: number;
  failed: number;
  /** jobs finished (done or failed) in the last minute, the whole cluster */
  finishedLastMinute: number;
  /** the whole cluster's desired state (hosts started later start so) */
  desired: 'running' | 'paused';
}

interface JobRow {
  id: string;
  spec: Omit<JobSpec, 'id'>;
  retry_count: number;
  not_before: string;
  last_error: { code: string; message: string } | null;
  claim_token: string;
}

// Two index probes (an expired lease first, else the oldest due waiting job), not one OR:
// the OR made PostgreSQL sort the whole table on every claim (16 ms at 20,000 jobs, 0.3 ms now).
const CLAIM = `
  WITH expired AS (
    SELECT id FROM h2k.jobs WHERE state = 'running' AND lease_until < now()
     ORDER BY lease_until LIMIT 1 FOR UPDATE SKIP LOCKED),
  due AS (
    SELECT id FROM h2k.jobs WHERE state = 'waiting' AND not_before <= $1
     ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED),
  next AS (SELECT id FROM expired UNION ALL SELECT id FROM due LIMIT 1)
  UPDATE h2k.jobs j
     SET state = 'running', host_name = $2, claim_token = $4,
         lease_until = now() + make_interval(secs => $3), claimed_at = now(), attempts = j.attempts + 1
    FROM next WHERE j.id = next.id
  RETURNING j.id, j.spec, j.retry_count, j.not_before, j.last_error, j.claim_token`;

// pg_notify in the same statement: every listening host wakes when the insert commits.
const ENQUEUE = `
  WITH queued AS (
  INSERT INTO h2k.jobs (id, spec, state) VALUES ($1, $2, 'waiting')
  ON CONFLICT (id) DO UPDATE
     SET spec = EXCLUDED.spec, state = 'waiting', seq = nextval('h2k.jobs_seq_seq'), retry_count = 0,
         not_before = 0, attempts = 0, host_name = NULL, claim_token = NULL, lease_until = NULL,
         enqueued_at = now(), claimed_at = NULL, finished_at = NULL, last_error = NULL
   WHERE h2k.jobs.state IN ('done', 'failed')
  RETURNING id)
  SELECT id, pg_notify('${WAKE_CHANNEL}', '') FROM queued`;

export class PgJobQueue implements JobQueue {
  readonly hostName: string;
  readonly leaseSeconds: number;
  /** id -> claim token of the jobs this process holds */
  private readonly held = new Map<string, string>();
  /** ids whose completion/failure/retry/release is in flight: a heartbeat must not call them lost */
  private readonly settling = new Set<string>();
  /** ids whose last settle got no answer (the database may have committed it) */
  private readonly unanswered = new Set<string>();
  /** tokens of claims whose answer was lost (the database may have taken them), with when */
  private readonly orphans = new Map<string, number>();
  private heartbeatTimer?: NodeJS.Timeout;
  private heartbeating?: Promise<void>;
  private wakeup?: PgWakeup;
  /** the run state this host reports in h2k.hosts.state */
  private reportedState = 'running';
  private lastDesired?: DesiredState;

  private readonly pool: pg.Pool;

  private constructor(
    private readonly db: PgConnection,
    private readonly opts: PgQueueOptions,
  ) {
    this.pool = db.pool;
    this.hostName = opts.hostName || hostname();
    this.leaseSeconds = opts.leaseSeconds ?? 30;
  }

  /** the URL as it may be shown (password masked) */
  get shownUrl(): string {
    return this.db.shownUrl;
  }

  /** Connects, creates or migrates the schema, registers this host and starts its heartbeat. */
  static async open(opts: PgQueueOptions): Promise<PgJobQueue> {
    const leaseSeconds = opts.leaseSeconds ?? 30;
    if (!(leaseSeconds >= 1)) throw new H2kError(`lease_seconds must be at least 1 (got ${leaseSeconds})`, { code: 'E_CONFIG' });
    // A heartbeat that takes longer than a lease is worthless: give up on it after a lease.
    const queue = new PgJobQueue(await connectCluster({ queryTimeoutMs: Math.max(5000, leaseSeconds * 1000), ...opts }), opts);
    try {
      await queue.heartbeat(true);
    } catch (err) {
      await queue.pool.end().catch(() => undefined);
      throw err;
    }
    queue.heartbeatTimer = setInterval(() => {
      queue.heartbeating ??= queue
        .heartbeat()
        .catch((err) => opts.onError?.(err as H2kError))
        .finally(() => (queue.heartbeating = undefined));
    }, (queue.leaseSeconds * 1000) / 3);
    queue.heartbeatTimer.unref();
    if (opts.onWork || opts.onDesired) {
      const onControl = opts.onDesired
        ? (target: string) => void queue.readDesired(target === '*' || target === queue.hostName).catch((err) => opts.onError?.(err as H2kError))
        : undefined;
      queue.wakeup = new PgWakeup(opts.url, opts.onWork ?? (() => undefined), (err) => opts.onError?.(queue.db.error(err)), onControl);
      await queue.wakeup.start();
    }
    return queue;
  }

  /** Connects (schema migrated) to read the cluster (clusterStatus), without joining it as a host. */
  static async observe(opts: PgConnectOptions): Promise<PgJobQueue> {
    return new PgJobQueue(await connectCluster({ poolSize: 2, ...opts }), { ...opts, hostName: 'observer' });
  }

  /** A query; named ones are prepared once per connection (the claim and settle statements). */
  private async sql<R extends pg.QueryResultRow>(text: string, values: unknown[] = [], name?: string): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>({ text, values, name });
    } catch (err) {
      throw this.db.error(err);
    }
  }

  /** Puts back to waiting the jobs of claims whose answer was lost. A lost claim may still reach
   * the database later (a frozen server thawing), so its token is tried again for one lease. */
  private async releaseOrphans(): Promise<void> {
    if (this.orphans.size === 0) return;
    const tokens = [...this.orphans.keys()];
    await this.sql(`UPDATE h2k.jobs SET state = 'waiting', claim_token = NULL, lease_until = NULL WHERE state = 'running' AND claim_token = ANY($1::bigint[])`, [tokens]);
    const expired = Date.now() - this.leaseSeconds * 1000;
    for (const t of tokens) if ((this.orphans.get(t) ?? 0) < expired) this.orphans.delete(t);
  }

  /** Renews the leases of the jobs this process holds, the host's last_seen and reported state,
   * then reads its desired state. `starting`: a drain asked of this host's previous run is over. */
  async heartbeat(starting = false): Promise<void> {
    await this.releaseOrphans();
    const sent = [...this.held];
    const { rows } = await this.sql<{ id: string }>(
      `WITH host AS (
         INSERT INTO h2k.hosts (host_name, pid, lease_seconds, state) VALUES ($1, $2, $3, $6)
         ON CONFLICT (host_name) DO UPDATE SET pid = EXCLUDED.pid, lease_seconds = EXCLUDED.lease_seconds, last_seen = now(), state = EXCLUDED.state,
           desired_state = CASE WHEN $5 AND h2k.hosts.desired_state = 'draining' THEN NULL ELSE h2k.hosts.desired_state END)
       UPDATE h2k.jobs SET lease_until = now() + make_interval(secs => $3)
        WHERE state = 'running' AND claim_token = ANY($4::bigint[]) RETURNING id`,
      [this.hostName, process.pid, this.leaseSeconds, sent.map(([, token]) => token), starting, this.reportedState],
    );
    const renewed = new Set(rows.map((r) => r.id));
    for (const [id, token] of sent) {
      if (renewed.has(id) || this.settling.has(id) || this.held.get(id) !== token) continue;
      this.held.delete(id);
      this.opts.onLeaseLost?.(id);
    }
    if (this.opts.onDesired) await this.readDesired(false);
  }

  /** Reads this host's desired state; tells onDesired when it changed or when `commanded`. */
  async readDesired(commanded: boolean): Promise<DesiredState | undefined> {
    const { rows } = await this.sql<{ desired: DesiredState }>(READ_DESIRED, [this.hostName]);
    const desired = rows[0]?.desired;
    if (desired && (commanded || desired !== this.lastDesired)) {
      this.lastDesired = desired;
      this.opts.onDesired?.(desired, commanded);
    }
    return desired;
  }

  /** Records the run state this host is in now (shown by `h2k ctl --queue-url status`). */
  async reportState(state: string): Promise<void> {
    if (state === this.reportedState) return;
    this.reportedState = state;
    await this.sql(`UPDATE h2k.hosts SET state = $2 WHERE host_name = $1`, [this.hostName, state]);
  }

  /** `h2k ctl --queue-url URL pause|resume|drain [--host NAME]` (pg-control.ts). */
  async command(command: ClusterCommand, host?: string): Promise<CommandResult> {
    return commandCluster((text, values) => this.sql(text, values), command, host);
  }

  async enqueue(spec: JobSpec): Promise<boolean> {
    const { id, ...rest } = spec;
    const { rowCount } = await this.sql(ENQUEUE, [id, JSON.stringify(rest)], 'h2k_enqueue');
    return rowCount === 1;
  }

  async claim(now: number): Promise<Job | undefined> {
    await this.releaseOrphans();
    // The token is made here, not by the database: if the answer is lost (connection cut, server
    // restarted) the claim may still have happened, and the token finds it again.
    const token = randomBytes(8).readBigInt64BE() & 0x7fffffffffffffffn;
    const params = [now, this.hostName, this.leaseSeconds, String(token)];
    const limit = this.opts.clusterMaxJobs ?? 0;
    let row: JobRow | undefined;
    try {
      if (limit <= 0) row = (await this.sql<JobRow>(CLAIM, params, 'h2k_claim')).rows[0];
      else row = await this.claimUnderLimit(limit, params);
    } catch (err) {
      if ((err as H2kError).code === 'E_QUEUE_UNREACHABLE') this.orphans.set(String(token), Date.now());
      throw err;
    }
    if (!row) return undefined;
    this.held.set(row.id, row.claim_token);
    return {
      ...row.spec,
      id: row.id,
      state: 'running',
      retryCount: row.retry_count,
      notBefore: Number(row.not_before),
      ...(row.last_error ? { lastError: row.last_error } : {}),
    };
  }

  private async claimUnderLimit(limit: number, params: unknown[]): Promise<JobRow | undefined> {
    let client: pg.PoolClient | undefined;
    let broken: Error | undefined;
    try {
      client = await this.pool.connect();
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_CLUSTER_LIMIT]);
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM h2k.jobs WHERE state = 'running' AND lease_until >= now()`,
      );
      const row = rows[0].n < limit ? (await client.query<JobRow>({ text: CLAIM, values: params, name: 'h2k_claim' })).rows[0] : undefined;
      await client.query('COMMIT');
      return row;
    } catch (err) {
      // A connection that failed mid-transaction is discarded, not returned to the pool.
      await client?.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw this.db.error(err);
    } finally {
      client?.release(broken);
    }
  }

  /** Changes a job this host holds; false when its lease was taken over (or it was never held). */
  private async settle(name: string, id: string, set: string, values: unknown[] = []): Promise<boolean> {
    const token = this.held.get(id);
    if (token === undefined) return false;
    this.settling.add(id);
    try {
      let rowCount: number | null;
      try {
        ({ rowCount } = await this.sql(`UPDATE h2k.jobs SET ${set}, claim_token = NULL, lease_until = NULL WHERE id = $1 AND claim_token = $2`, [id, token, ...values], `h2k_${name}`));
      } catch (err) {
        if ((err as H2kError).code === 'E_QUEUE_UNREACHABLE') this.unanswered.add(id);
        throw err;
      }
      // The caller tries again after a lost answer: the first try may have been committed.
      if (rowCount === 0 && this.unanswered.has(id)) rowCount = (await this.settledByUs(id)) ? 1 : 0;
      this.held.delete(id);
      this.unanswered.delete(id);
      return rowCount === 1;
    } finally {
      this.settling.delete(id);
    }
  }

  /** the job was settled by this host and nobody claimed it since (a try whose answer was lost) */
  private async settledByUs(id: string): Promise<boolean> {
    const { rows } = await this.sql<{ ok: boolean }>(
      `SELECT state <> 'running' AND host_name = $2 AND claim_token IS NULL AS ok FROM h2k.jobs WHERE id = $1`,
      [id, this.hostName],
    );
    return rows[0]?.ok === true;
  }

  private leaseLost(id: string): H2kError {
    return new H2kError(`job ${id} is no longer held by host ${this.hostName}: its lease expired and another host took it over`, {
      code: 'E_QUEUE_LEASE_LOST',
      hint: `the host's heartbeats did not reach the database for lease_seconds (${this.leaseSeconds} s); its result must not be used`,
    });
  }

  /** Renews the lease of a job this host holds, just before it publishes its outputs: throws
   * E_QUEUE_LEASE_LOST when another host has taken it over (this host must not publish). */
  async fence(id: string): Promise<void> {
    const token = this.held.get(id);
    if (token === undefined) throw this.leaseLost(id);
    // A database away for a moment (restart) is waited for while the lease may still hold; once
    // it is back, a lease that expired meanwhile is found lost by the update itself.
    const giveUpAt = Date.now() + this.leaseSeconds * 1000;
    await untilQueueAnswers(async () => {
      const { rowCount } = await this.sql(
        `UPDATE h2k.jobs SET lease_until = now() + make_interval(secs => $3) WHERE id = $1 AND claim_token = $2 AND state = 'running'`,
        [id, token, this.leaseSeconds], 'h2k_fence');
      if (rowCount !== 1) throw this.leaseLost(id);
    }, { keepTrying: () => Date.now() <= giveUpAt, firstDelayMs: 250, maxDelayMs: 250 });
  }

  async complete(id: string): Promise<void> {
    if (!(await this.settle('complete', id, `state = 'done', finished_at = now()`))) throw this.leaseLost(id);
  }

  async fail(id: string, error: { code: string; message: string }): Promise<void> {
    if (!(await this.settle('fail', id, `state = 'failed', finished_at = now(), last_error = $3`, [JSON.stringify(error)]))) throw this.leaseLost(id);
  }

  async retryAt(id: string, at: number, error: { code: string; message: string }): Promise<void> {
    const set = `state = 'waiting', retry_count = retry_count + 1, not_before = $3, last_error = $4, seq = nextval('h2k.jobs_seq_seq')`;
    if (!(await this.settle('retry', id, set, [Math.round(at), JSON.stringify(error)]))) throw this.leaseLost(id);
  }

  async release(id: string): Promise<void> {
    if (await this.settle('release', id, `state = 'waiting'`)) await this.sql(`SELECT pg_notify('${WAKE_CHANNEL}', '')`).catch(() => undefined);
  }

  /** Earliest retry time after `now`. Jobs freed by another host's expired lease are not
   * announced here: they are claimed by the next claim (the daemon polls the cluster queue). */
  async nextDueAt(now: number): Promise<number | undefined> {
    const { rows } = await this.sql<{ t: string | null }>(`SELECT min(not_before) AS t FROM h2k.jobs WHERE state = 'waiting' AND not_before > $1`, [now]);
    return rows[0].t === null ? undefined : Number(rows[0].t);
  }

  async counts(now: number): Promise<QueueCounts> {
    const { rows } = await this.sql<QueueCounts>(
      `SELECT count(*) FILTER (WHERE state = 'waiting' OR lease_until < now())::int AS waiting,
              count(*) FILTER (WHERE state = 'waiting' AND not_before > $1)::int AS "retryWaiting",
              count(*) FILTER (WHERE state = 'running' AND lease_until >= now())::int AS running
         FROM h2k.jobs WHERE state IN ('waiting', 'running')`,
      [now],
    );
    return rows[0];
  }

  async has(id: string): Promise<boolean> {
    const { rowCount } = await this.sql(`SELECT 1 FROM h2k.jobs WHERE id = $1 AND state IN ('waiting', 'running')`, [id]);
    return rowCount === 1;
  }

  /** Hosts (alive or not, with their jobs) and the cluster's queue. */
  async clusterStatus(): Promise<ClusterStatus> {
    const [hosts, totals] = await Promise.all([
      this.sql<Omit<ClusterStatus['hosts'][number], 'startedAt' | 'lastSeen'> & { startedAt: Date; lastSeen: Date }>(
        `SELECT h.host_name AS "hostName", h.pid, h.started_at AS "startedAt", h.last_seen AS "lastSeen",
                h.last_seen > now() - make_interval(secs => h.lease_seconds) AS alive,
                h.state, coalesce(h.desired_state, (SELECT desired_state FROM h2k.cluster_control)) AS desired,
                count(j.id) FILTER (WHERE j.state = 'running' AND j.lease_until >= now())::int AS running,
                count(j.id) FILTER (WHERE j.state = 'done')::int AS done,
                count(j.id) FILTER (WHERE j.state = 'failed')::int AS failed
           FROM h2k.hosts h LEFT JOIN h2k.jobs j ON j.host_name = h.host_name
          GROUP BY h.host_name ORDER BY h.host_name`,
      ),
      this.sql<Omit<ClusterStatus, 'hosts'>>(
        `SELECT count(*) FILTER (WHERE state = 'waiting' OR (state = 'running' AND lease_until < now()))::int AS waiting,
                count(*) FILTER (WHERE state = 'running' AND lease_until >= now())::int AS running,
                count(*) FILTER (WHERE state = 'done')::int AS done,
                count(*) FILTER (WHERE state = 'failed')::int AS failed,
                count(*) FILTER (WHERE finished_at > now() - interval '1 minute')::int AS "finishedLastMinute",
                (SELECT desired_state FROM h2k.cluster_control) AS desired
           FROM h2k.jobs`,
      ),
    ]);
    const iso = (d: Date) => d.toISOString();
    return { hosts: hosts.rows.map((h) => ({ ...h, startedAt: iso(h.startedAt), lastSeen: iso(h.lastSeen) })), ...totals.rows[0] };
  }

  /** Forgets finished jobs and hosts unseen for more than `days` days; returns how many jobs. */
  async purgeFinished(days: number): Promise<number> {
    if (!Number.isFinite(days) || days < 0) throw new H2kError(`retention days must be >= 0, got ${days}`, { code: 'E_INVALID_ARGUMENT' });
    const { rowCount } = await this.sql(
      `WITH gone AS (DELETE FROM h2k.hosts WHERE last_seen < now() - make_interval(secs => $1)),
            runs AS (DELETE FROM h2k.manifest_runs WHERE filed_at < now() - make_interval(secs => $1))
       DELETE FROM h2k.jobs WHERE state IN ('done', 'failed') AND finished_at < now() - make_interval(secs => $1)`,
      [days * 86_400],
    );
    return rowCount ?? 0;
  }

  /** ids of the jobs this process holds */
  heldIds(): string[] {
    return [...this.held.keys()];
  }

  /** Stops the heartbeat and closes the connections; jobs still held keep their lease until it expires. */
  async close(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    await this.wakeup?.close();
    await this.heartbeating;
    await this.pool.end();
  }
}
