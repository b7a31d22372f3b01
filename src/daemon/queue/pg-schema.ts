// The cluster's tables in PostgreSQL (job queue, hosts, dedup records), schema `h2k`, created and
// migrated by the first daemon that starts (migrations run under an advisory lock, so daemons
// starting together apply each one once).
// h2k.schema_version records the applied versions; a database migrated by a newer h2k is refused.
import type pg from 'pg';
import { H2kError } from '../../util/errors.js';

/** pg_advisory_xact_lock keys: one for migrations, one serialising claims under cluster_max_jobs. */
export const LOCK_MIGRATE = 0x68326b01;
export const LOCK_CLUSTER_LIMIT = 0x68326b02;

const MIGRATIONS: readonly string[] = [
  // 1: jobs with a lease (host_name + claim_token + lease_until), the hosts that heartbeat.
  `CREATE TABLE h2k.jobs (
     id          text PRIMARY KEY,
     spec        jsonb NOT NULL,
     state       text NOT NULL CHECK (state IN ('waiting', 'running', 'done', 'failed')),
     seq         bigserial,
     retry_count integer NOT NULL DEFAULT 0,
     not_before  bigint NOT NULL DEFAULT 0,
     attempts    integer NOT NULL DEFAULT 0,
     host_name   text,
     claim_token bigint,
     lease_until timestamptz,
     enqueued_at timestamptz NOT NULL DEFAULT now(),
     claimed_at  timestamptz,
     finished_at timestamptz,
     last_error  jsonb
   );
   CREATE INDEX jobs_waiting ON h2k.jobs (seq) WHERE state = 'waiting';
   CREATE INDEX jobs_running ON h2k.jobs (lease_until) WHERE state = 'running';
   CREATE TABLE h2k.hosts (
     host_name     text PRIMARY KEY,
     pid           integer,
     lease_seconds integer NOT NULL,
     started_at    timestamptz NOT NULL DEFAULT now(),
     last_seen     timestamptz NOT NULL DEFAULT now()
   );`,
  // 2: the cluster's dedup records (src/dedup/pg-store.ts): the columns of the SQLite store's
  // processed_files (src/dedup/schema.ts) plus the host that recorded each.
  `CREATE TABLE h2k.processed_files (
     id               bigserial PRIMARY KEY,
     filename         text NOT NULL,
     filepath         text NOT NULL DEFAULT '',
     file_size        bigint NOT NULL,
     md5_hash         text,
     processed_at     timestamptz NOT NULL,
     output_path      text,
     status           text NOT NULL,
     xxh3             text,
     error            text,
     duration_seconds double precision,
     host_name        text
   );
   CREATE INDEX processed_files_name_size ON h2k.processed_files (filename, file_size);
   CREATE INDEX processed_files_md5 ON h2k.processed_files (md5_hash);
   CREATE INDEX processed_files_xxh3 ON h2k.processed_files (xxh3);
   CREATE INDEX processed_files_processed_at ON h2k.processed_files (processed_at);`,
  // 3: manifest runs of the manifest workflow (pg-run-ledger.ts): the VM reports of a batch whose
  // VMs run on several hosts, and the one VM job that files the manifest's report. At most one
  // unfiled run per manifest name.
  `CREATE TABLE h2k.manifest_runs (
     run_id      text PRIMARY KEY,
     manifest    text NOT NULL,
     vms         integer NOT NULL,
     reports     jsonb NOT NULL DEFAULT '{}',
     filer_job   text,
     started_at  timestamptz NOT NULL DEFAULT now(),
     filed_at    timestamptz
   );
   CREATE UNIQUE INDEX manifest_runs_unfiled ON h2k.manifest_runs (manifest) WHERE filed_at IS NULL;`,
  // 4: cluster control (h2k ctl --queue-url pause|resume|drain, src/daemon/queue/pg-control.ts):
  // the state the whole cluster is asked to be in (one row), a host's own override, and the
  // state each host reports it is in.
  `CREATE TABLE h2k.cluster_control (
     singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
     desired_state text NOT NULL CHECK (desired_state IN ('running', 'paused')),
     changed_at    timestamptz NOT NULL DEFAULT now()
   );
   INSERT INTO h2k.cluster_control (desired_state) VALUES ('running');
   ALTER TABLE h2k.hosts
     ADD COLUMN desired_state text CHECK (desired_state IN ('running', 'paused', 'draining')),
     ADD COLUMN state text;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the database to `target` (default SCHEMA_VERSION; lower only to test upgrades); returns the version found before. */
export async function migrate(client: pg.ClientBase, target = SCHEMA_VERSION): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_MIGRATE]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS h2k;
      CREATE TABLE IF NOT EXISTS h2k.schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM h2k.schema_version');
    const found = rows[0]?.v ?? 0;
    if (found > SCHEMA_VERSION)
      throw new H2kError(`the queue database has schema version ${found}, newer than this h2k knows (${SCHEMA_VERSION})`, {
        code: 'E_QUEUE_VERSION',
        hint: 'upgrade h2k on this host to the version the other hosts of the cluster run',
      });
    for (let v = found + 1; v <= target; v++) {
      await client.query(MIGRATIONS[v - 1]);
      await client.query('INSERT INTO h2k.schema_version (version) VALUES ($1)', [v]);
    }
    await client.query('COMMIT');
    return found;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
