// A VM job's note of the outputs it is about to create, kept beside its manifest in processing/
// (one journal per VM: a batch's VMs may run on several hosts at once). After a crash, the rerun
// deletes exactly those files (and their .partial) before starting again, so a half-finished job
// never blocks its own retry with "output exists".
import { randomUUID } from 'node:crypto';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

interface JournalData {
  job_id: string;
  manifest: string;
  outputs: string[];
}

export class JobJournal {
  private data: JournalData;

  private constructor(readonly path: string, data: JournalData) {
    this.data = data;
  }

  /** The journal of VM `vm` (from 0) of a manifest. */
  static pathFor(processingDir: string, manifestName: string, vm: number): string {
    return join(processingDir, `.${manifestName}.${vm}.job.json`);
  }

  /** The journals of a manifest's VMs in processing/. */
  static async allOf(processingDir: string, manifestName: string): Promise<string[]> {
    const esc = manifestName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    // `.NAME.job.json` is the one journal per manifest of earlier h2k versions.
    const mine = new RegExp(`^\\.${esc}(\\.\\d+)?\\.job\\.json$`);
    return (await readdir(processingDir)).filter((n) => mine.test(n)).sort().map((n) => join(processingDir, n));
  }

  /** Removes the outputs every journal of a manifest names, and the journals (a run that will not
   * be finished: cancelled, or found in processing/ after a crash). Returns what was removed. */
  static async discardAll(processingDir: string, manifestName: string): Promise<string[]> {
    const removed: string[] = [];
    for (const f of await JobJournal.allOf(processingDir, manifestName)) {
      const j = await JobJournal.open(f, '', manifestName);
      removed.push(...(await j.removeLeftovers()));
      await j.remove();
    }
    return removed;
  }

  /** Removes the journals of a manifest whose report is filed (its outputs are final). */
  static async forgetAll(processingDir: string, manifestName: string): Promise<void> {
    for (const f of await JobJournal.allOf(processingDir, manifestName)) await rm(f, { force: true });
  }

  /** Opens the journal of a manifest, keeping the outputs an earlier (crashed) run recorded. */
  static async open(path: string, jobId: string, manifestName: string): Promise<JobJournal> {
    let outputs: string[] = [];
    try {
      const old = JSON.parse(await readFile(path, 'utf8')) as Partial<JournalData>;
      if (Array.isArray(old.outputs)) outputs = old.outputs.filter((o): o is string => typeof o === 'string');
    } catch {
      // No journal (first run) or a torn one: nothing to clean up.
    }
    return new JobJournal(path, { job_id: jobId, manifest: manifestName, outputs });
  }

  /** Outputs a previous run of this manifest recorded. */
  get leftovers(): string[] {
    return [...this.data.outputs];
  }

  async removeLeftovers(): Promise<string[]> {
    const removed: string[] = [];
    for (const out of this.data.outputs) {
      for (const p of [out, `${out}.partial`]) {
        try {
          await rm(p);
          removed.push(p);
        } catch {
          // Already gone.
        }
      }
    }
    this.data.outputs = [];
    await this.save();
    return removed;
  }

  async recordOutput(output: string): Promise<void> {
    if (!this.data.outputs.includes(output)) this.data.outputs.push(output);
    await this.save();
  }

  async remove(): Promise<void> {
    await rm(this.path, { force: true });
  }

  private saving: Promise<void> = Promise.resolve();

  /** Saves are chained: a batch's VMs record outputs concurrently. */
  private save(): Promise<void> {
    const next = this.saving.then(async () => {
      const tmp = join(dirname(this.path), `.${randomUUID()}.journal.tmp`);
      await writeFile(tmp, JSON.stringify(this.data) + '\n');
      await rename(tmp, this.path);
    });
    this.saving = next.catch(() => undefined);
    return next;
  }
}
