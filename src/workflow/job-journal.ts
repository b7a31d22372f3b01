// A job's note of the outputs it is about to create, kept beside its manifest in processing/.
// After a crash, the rerun deletes exactly those files (and their .partial) before starting
// again, so a half-finished job never blocks its own retry with "output exists".
import { randomUUID } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
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

  static pathFor(processingDir: string, manifestName: string): string {
    return join(processingDir, `.${manifestName}.job.json`);
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
