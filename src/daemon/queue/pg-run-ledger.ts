// The manifest workflow's RunLedger (src/workflow/run-ledger.ts) of a cluster: table
// h2k.manifest_runs (pg-schema.ts migration 3). Recording a VM's report and deciding whether it
// completed the set is one UPDATE: PostgreSQL row-locks the run, so of two VMs finishing at once
// on two hosts the second sees the first's report, and exactly one of them is named filer.
import type { RunLedger, ManifestRun, RunState } from '../../workflow/run-ledger.js';
import type { VmReport } from '../../workflow/report.js';
import { connectCluster, type PgConnectOptions, type PgConnection } from './pg-connect.js';
import { randomUUID } from 'node:crypto';

interface RunRow {
  run_id: string;
  manifest: string;
  vms: number;
  started_at: Date;
}
const toRun = (r: RunRow): ManifestRun => ({ run: r.run_id, name: r.manifest, vms: r.vms, startedAt: r.started_at });

export class PgRunLedger implements RunLedger {
  private constructor(private readonly db: PgConnection) {}

  static async open(opts: PgConnectOptions): Promise<PgRunLedger> {
    return new PgRunLedger(await connectCluster({ poolSize: 2, ...opts }));
  }

  private async rows<R extends object>(text: string, values: unknown[] = []): Promise<R[]> {
    try {
      return (await this.db.pool.query<R & object>(text, values)).rows;
    } catch (err) {
      throw this.db.error(err);
    }
  }

  async begin(name: string, vms: number): Promise<ManifestRun | undefined> {
    const [r] = await this.rows<RunRow>(
      `INSERT INTO h2k.manifest_runs (run_id, manifest, vms) VALUES ($1, $2, $3)
       ON CONFLICT (manifest) WHERE filed_at IS NULL DO NOTHING
       RETURNING run_id, manifest, vms, started_at`,
      [randomUUID(), name, vms],
    );
    return r && toRun(r);
  }

  async active(name: string): Promise<ManifestRun | undefined> {
    const [r] = await this.rows<RunRow>(`SELECT run_id, manifest, vms, started_at FROM h2k.manifest_runs WHERE manifest = $1 AND filed_at IS NULL`, [name]);
    return r && toRun(r);
  }

  async record(run: string, vm: number, report: VmReport, jobId: string): Promise<boolean> {
    const [r] = await this.rows<{ filer_job: string | null }>(
      `UPDATE h2k.manifest_runs
          SET reports = reports || jsonb_build_object($2::text, $3::jsonb),
              filer_job = CASE WHEN (SELECT count(*) FROM jsonb_object_keys(reports)) + 1 = vms THEN $4 ELSE filer_job END
        WHERE run_id = $1 AND filed_at IS NULL AND NOT reports ? $2::text
        RETURNING filer_job`,
      [run, String(vm), JSON.stringify(report), jobId],
    );
    return r?.filer_job === jobId;
  }

  async state(run: string): Promise<RunState | undefined> {
    const [r] = await this.rows<{ reports: Record<string, VmReport>; filer_job: string | null; filed: boolean; started_at: Date }>(
      `SELECT reports, filer_job, filed_at IS NOT NULL AS filed, started_at FROM h2k.manifest_runs WHERE run_id = $1`,
      [run],
    );
    if (!r) return undefined;
    return { reports: new Map(Object.entries(r.reports).map(([k, v]) => [Number(k), v])), filer: r.filer_job ?? undefined, filed: r.filed, startedAt: r.started_at };
  }

  async filed(run: string): Promise<void> {
    await this.rows(`UPDATE h2k.manifest_runs SET filed_at = now() WHERE run_id = $1`, [run]);
  }

  async drop(run: string): Promise<void> {
    await this.rows(`DELETE FROM h2k.manifest_runs WHERE run_id = $1`, [run]);
  }

  /** In a cluster a stopping host leaves its runs to the others: none is its own to drop. */
  async unfiled(): Promise<ManifestRun[]> {
    return [];
  }

  async close(): Promise<void> {
    await this.db.pool.end();
  }
}
