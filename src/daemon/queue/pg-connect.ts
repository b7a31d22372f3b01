// One connection pool to the cluster database, schema migrated, for the job queue and the dedup
// store. Every error that leaves here is coded and redacted (pg-errors.ts).
import pg from 'pg';
import { redactorFor, type Redactor } from '../../util/redact.js';
import type { H2kError } from '../../util/errors.js';
import { queueError } from './pg-errors.js';
import { migrate } from './pg-schema.js';

export interface PgConnectOptions {
  /** postgres://user:password@host[:port]/database (a socket directory as host works too) */
  url: string;
  /** connection attempts give up after this (default 5000 ms) */
  connectTimeoutMs?: number;
  /** a query without an answer for this long fails as unreachable (default 30000 ms): a server
   * cut off without a reset (network partition, frozen host) must not hang a heartbeat forever */
  queryTimeoutMs?: number;
  /** pool size of this process (default 4) */
  poolSize?: number;
  /** a background failure (an idle connection lost); already redacted */
  onError?: (err: H2kError) => void;
}

export interface PgConnection {
  pool: pg.Pool;
  redact: Redactor;
  /** the URL as it may be shown (password masked) */
  shownUrl: string;
  /** the driver's error as a coded, redacted H2kError */
  error(err: unknown): H2kError;
}

export async function connectCluster(opts: PgConnectOptions): Promise<PgConnection> {
  const redact = redactorFor(opts.url);
  const shownUrl = redact(opts.url);
  const error = (err: unknown) => queueError(err, redact, shownUrl);
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize ?? 4,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
    query_timeout: opts.queryTimeoutMs ?? 30_000,
    keepAlive: true,
    application_name: 'h2k',
  });
  // An idle connection dropped by the server (restart, network cut): the pool replaces it on the
  // next query; without this listener the process would die of an unhandled 'error' event.
  pool.on('error', (err) => opts.onError?.(error(err)));
  try {
    const client = await pool.connect();
    try {
      await migrate(client);
    } finally {
      client.release();
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw error(err);
  }
  return { pool, redact, shownUrl, error };
}
