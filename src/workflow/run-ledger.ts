// Where a manifest run keeps its VMs' reports until the last one is in, and which job files the
// manifest report. A batch's VMs are separate queue jobs (they may run on several hosts of a
// cluster): the ledger decides, atomically, which VM completed the set; that VM's job (or the
// host that takes it over after a crash) files the report, exactly once. Single-host: in memory;
// with queue_url: PostgreSQL (src/daemon/queue/pg-run-ledger.ts).
import { randomUUID } from 'node:crypto';
import type { VmReport } from './report.js';

export interface ManifestRun {
  /** the run's id: the report's job_id and the VM jobs' id prefix */
  run: string;
  /** the manifest's file name in processing/ */
  name: string;
  vms: number;
  startedAt: Date;
}

export interface RunState {
  /** VM index -> its report, for the VMs recorded so far */
  reports: Map<number, VmReport>;
  /** id of the VM job that completed the set (it files the report) */
  filer?: string;
  filed: boolean;
  startedAt: Date;
}

export interface RunLedger {
  /** Starts a run of a manifest; undefined when a run of that name is not yet filed. */
  begin(name: string, vms: number): Promise<ManifestRun | undefined>;
  /** The run of this manifest name not yet filed, if any. */
  active(name: string): Promise<ManifestRun | undefined>;
  /** Records a VM's report (the first record of a VM wins); true when this made the set complete
   * and so `jobId` is the filer. */
  record(run: string, vm: number, report: VmReport, jobId: string): Promise<boolean>;
  state(run: string): Promise<RunState | undefined>;
  /** The report is filed: the name is free for a new run. */
  filed(run: string): Promise<void>;
  /** Forgets a run that will not finish (single-host stop: the manifest goes back to to_be_processed/). */
  drop(run: string): Promise<void>;
  /** Runs of this process not yet filed (single-host stop). */
  unfiled(): Promise<ManifestRun[]>;
  close(): Promise<void>;
}

interface Entry extends ManifestRun, RunState {}

export class MemoryRunLedger implements RunLedger {
  private readonly runs = new Map<string, Entry>();

  async begin(name: string, vms: number): Promise<ManifestRun | undefined> {
    if (await this.active(name)) return undefined;
    const e: Entry = { run: randomUUID(), name, vms, startedAt: new Date(), reports: new Map(), filed: false };
    this.runs.set(e.run, e);
    return { run: e.run, name, vms, startedAt: e.startedAt };
  }

  async active(name: string): Promise<ManifestRun | undefined> {
    for (const e of this.runs.values()) if (e.name === name && !e.filed) return { run: e.run, name, vms: e.vms, startedAt: e.startedAt };
    return undefined;
  }

  async record(run: string, vm: number, report: VmReport, jobId: string): Promise<boolean> {
    const e = this.runs.get(run);
    if (!e || e.reports.has(vm)) return false;
    e.reports.set(vm, report);
    if (e.reports.size < e.vms) return false;
    e.filer = jobId;
    return true;
  }

  async state(run: string): Promise<RunState | undefined> {
    const e = this.runs.get(run);
    return e && { reports: new Map(e.reports), filer: e.filer, filed: e.filed, startedAt: e.startedAt };
  }

  async filed(run: string): Promise<void> {
    // Nothing asks about a filed run again in one process: forget it (memory stays bounded).
    this.runs.delete(run);
  }

  async drop(run: string): Promise<void> {
    this.runs.delete(run);
  }

  async unfiled(): Promise<ManifestRun[]> {
    return [...this.runs.values()].map((e) => ({ run: e.run, name: e.name, vms: e.vms, startedAt: e.startedAt }));
  }

  async close(): Promise<void> {}
}
