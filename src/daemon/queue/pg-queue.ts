// The cluster's JobQueue: one PostgreSQL table (pg-schema.ts) shared by every daemon pointed at
// the same queue_url. Claims take the oldest due row with FOR UPDATE SKIP LOCKED, so concurrent
// claimers never wait for each other nor take the same job. A claim is a lease: host_name, a
// claim token from a sequence and lease_until = now() + lease_seconds (the database's clock,
// the one clock all hosts share). A timer renews the leases of the jobs this process holds every
// lease_seconds / 3; a host that stops renewing (killed, powered off, cut off) loses its jobs to
// the next claim after lease_until. Every change of a claimed job names its claim token, so a
// host whose lease was taken over can no longer complete, fail or retry that job
// (E_QUEUE_LEASE_LOST). With cluster_max_jobs, claims are serialised by an advisory lock and
// count the live leases of the whole cluster in the same transaction.
import { hostname } from 'node:os';
import pg from 'pg';
import { H2kError } from '../../util/errors.js';
import { redactorFor, type Redactor } from '../../util/redact.js';
import type { Job, JobQueue, JobSpec, QueueCounts } from './job-queue.js';
import { queueError } from './pg-errors.js';
import { LOCK_CLUSTER_LIMIT, migrate } from './pg-schema.js';

export interface PgQueueOptions {
  /** postgres://user:password@host[:port]/database (a socket directory as host works too) */
  url: string;
  /** this daemon's name in the cluster; default the machine's hostname */
  hostName?: string;
  /** seconds a claim lives without a heartbeat (default 30) */
  leaseSeconds?: number;
  /** jobs running at once in the whole cluster; 0 or absent: no limit */
  clusterMaxJobs?: number;
  /** connection attempts give up after this (default 5000 ms) */
  connectTimeoutMs?: number;
  /** pool size of this process (default 4) */
  poolSize?: number;
  /** a job this host held was taken over after its lease expired (heartbeats did not get through) */
  onLeaseLost?: (id: string) => void;
  /** a background failure (heartbeat, idle connection lost); already redacted */
  onError?: (err: H2kError) => void;
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
     SET state = 'running', host_name = $2, claim_token = nextval('h2k.claim_tokens'),
         lease_until = now() + make_interval(secs => $3), claimed_at = now(), attempts = j.attempts + 1
    FROM next WHERE j.id = next.id
  RETURNING j.id, j.spec, j.retry_count, j.not_before, j.last_error, j.claim_token`;

const ENQUEUE = `
  INSERT INTO h2k.jobs (id, spec, state) VALUES ($1, $2, 'waiting')
  ON CONFLICT (id) DO UPDATE
     SET spec = EXCLUDED.spec, state = 'waiting', seq = nextval('h2k.jobs_seq_seq'), retry_count = 0,
         not_before = 0, attempts = 0, host_name = NULL, claim_token = NULL, lease_until = NULL,
         enqueued_at = now(), claimed_at = NULL, finished_at = NULL, last_error = NULL
   WHERE h2k.jobs.state IN ('done', 'failed')
  RETURNING id`;

export class PgJobQueue implements JobQueue {
  readonly hostName: string;
  readonly leaseSeconds: number;
  /** the URL as it may be shown (password masked) */
  readonly shownUrl: string;
  /** id -> claim token of the jobs this process holds */
  private readonly held = new Map<string, string>();
  /** ids whose completion/failure/retry/release is in flight: a heartbeat must not call them lost */
  private readonly settling = new Set<string>();
  private heartbeatTimer?: NodeJS.Timeout;
  private heartbeating?: Promise<void>;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly opts: PgQueueOptions,
    private readonly redact: Redactor,
  ) {
    this.hostName = opts.hostName || hostname();
    this.leaseSeconds = opts.leaseSeconds ?? 30;
    this.shownUrl = redact(opts.url);
  }

  /** Connects, creates or migrates the schema, registers this host and starts its heartbeat. */
  static async open(opts: PgQueueOptions): Promise<PgJobQueue> {
    const redact = redactorFor(opts.url);
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 4,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      keepAlive: true,
      application_name: 'h2k',
    });
    const queue = new PgJobQueue(pool, opts, redact);
    // An idle connection dropped by the server (restart, network cut): the pool replaces it on
    // the next query; without this listener the process would die of an unhandled 'error'.
    pool.on('error', (err) => opts.onError?.(queueError(err, redact, queue.shownUrl)));
    if (!(queue.leaseSeconds >= 1)) throw new H2kError(`lease_seconds must be at least 1 (got ${queue.leaseSeconds})`, { code: 'E_CONFIG' });
    try {
      const client = await pool.connect();
      try {
        await migrate(client);
      } finally {
        client.release();
      }
      await queue.heartbeat();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw queueError(err, redact, queue.shownUrl);
    }
    queue.heartbeatTimer = setInterval(() => {
      queue.heartbeating ??= queue
        .heartbeat()
        .catch((err) => opts.onError?.(err as H2kError))
        .finally(() => (queue.heartbeating = undefined));
    }, (queue.leaseSeconds * 1000) / 3);
    queue.heartbeatTimer.unref();
    return queue;
  }

  /** A query; named ones are prepared once per connection (the claim and settle statements). */
  private async sql<R extends pg.QueryResultRow>(text: string, values: unknown[] = [], name?: string): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>({ text, values, name });
    } catch (err) {
      throw queueError(err, this.redact, this.shownUrl);
    }
  }

  /** Renews the leases of the jobs this process holds and the host's last_seen. */
  async heartbeat(): Promise<void> {
    const sent = [...this.held];
    const { rows } = await this.sql<{ id: string }>(
      `WITH host AS (
         INSERT INTO h2k.hosts (host_name, pid, lease_seconds) VALUES ($1, $2, $3)
         ON CONFLICT (host_name) DO UPDATE SET pid = EXCLUDED.pid, lease_seconds = EXCLUDED.lease_seconds, last_seen = now())
       UPDATE h2k.jobs SET lease_until = now() + make_interval(secs => $3)
        WHERE state = 'running' AND claim_token = ANY($4::bigint[]) RETURNING id`,
      [this.hostName, process.pid, this.leaseSeconds, sent.map(([, token]) => token)],
    );
    const renewed = new Set(rows.map((r) => r.id));
    for (const [id, token] of sent) {
      if (renewed.has(id) || this.settling.has(id) || this.held.get(id) !== token) continue;
      this.held.delete(id);
      this.opts.onLeaseLost?.(id);
    }
  }

  async enqueue(spec: JobSpec): Promise<boolean> {
    const { id, ...rest } = spec;
    const { rowCount } = await this.sql(ENQUEUE, [id, JSON.stringify(rest)], 'h2k_enqueue');
    return rowCount === 1;
  }

  async claim(now: number): Promise<Job | undefined> {
    const params = [now, this.hostName, this.leaseSeconds];
    const limit = this.opts.clusterMaxJobs ?? 0;
    let row: JobRow | undefined;
    if (limit <= 0) row = (await this.sql<JobRow>(CLAIM, params, 'h2k_claim')).rows[0];
    else row = await this.claimUnderLimit(limit, params);
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
      await client?.query('ROLLBACK').catch(() => undefined);
      throw queueError(err, this.redact, this.shownUrl);
    } finally {
      client?.release();
    }
  }

  /** Changes a job this host holds; false when its lease was taken over (or it was never held). */
  private async settle(name: string, id: string, set: string, values: unknown[] = []): Promise<boolean> {
    const token = this.held.get(id);
    if (token === undefined) return false;
    this.settling.add(id);
    try {
      const { rowCount } = await this.sql(`UPDATE h2k.jobs SET ${set}, claim_token = NULL, lease_until = NULL WHERE id = $1 AND claim_token = $2`, [id, token, ...values], `h2k_${name}`);
      this.held.delete(id);
      return rowCount === 1;
    } finally {
      this.settling.delete(id);
    }
  }

  private leaseLost(id: string): H2kError {
    return new H2kError(`job ${id} is no longer held by host ${this.hostName}: its lease expired and another host took it over`, {
      code: 'E_QUEUE_LEASE_LOST',
      hint: `the host's heartbeats did not reach the database for lease_seconds (${this.leaseSeconds} s); its result must not be used`,
    });
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
    await this.settle('release', id, `state = 'waiting'`);
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

  /** ids of the jobs this process holds */
  heldIds(): string[] {
    return [...this.held.keys()];
  }

  /** Stops the heartbeat and closes the connections; jobs still held keep their lease until it expires. */
  async close(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    await this.heartbeating;
    await this.pool.end();
  }
}
