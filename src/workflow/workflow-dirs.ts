// The workflow directory state machine. A manifest lives in exactly one place at a time:
//   to_be_processed/ -> processing/ -> processed/YYYY-MM-DD/ (+ my-vm.json.report.json)
//                                   -> failed/YYYY-MM-DD/    (+ my-vm.json.error.json, report if any)
// Result files are named after the whole manifest file name, as hyper2kvm names them.
// Every move is a rename inside one filesystem, so it is atomic; result files are written
// (tmp + rename) before the manifest leaves processing/, so a crash never loses them.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { localDate } from '../util/local-date.js';
import { isManifestFileName, manifestStem } from './manifest-loader.js';

export const QUEUE_DIR = 'to_be_processed';
export const PROCESSING_DIR = 'processing';
export const PROCESSED_DIR = 'processed';
export const FAILED_DIR = 'failed';

export type FinalState = 'processed' | 'failed';

export interface QueuedManifest {
  name: string;
  mtimeMs: number;
}

export interface FinishedManifest {
  manifestPath: string;
  files: string[];
}


function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException)?.code === code;
}

export class WorkflowDirs {
  readonly queueDir: string;
  readonly processingDir: string;

  constructor(readonly root: string) {
    this.queueDir = join(root, QUEUE_DIR);
    this.processingDir = join(root, PROCESSING_DIR);
  }

  async ensure(): Promise<void> {
    for (const d of [QUEUE_DIR, PROCESSING_DIR, PROCESSED_DIR, FAILED_DIR]) await mkdir(join(this.root, d), { recursive: true });
  }

  private async listManifests(dir: string): Promise<QueuedManifest[]> {
    const out: QueuedManifest[] = [];
    for (const ent of await readdir(dir, { withFileTypes: true })) {
      if (!ent.isFile() || ent.name.startsWith('.') || !isManifestFileName(ent.name)) continue;
      try {
        out.push({ name: ent.name, mtimeMs: (await stat(join(dir, ent.name))).mtimeMs });
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err; // moved away meanwhile
      }
    }
    // Oldest first, so manifests are taken in the order they arrived.
    return out.sort((a, b) => a.mtimeMs - b.mtimeMs || a.name.localeCompare(b.name));
  }

  listQueued(): Promise<QueuedManifest[]> {
    return this.listManifests(this.queueDir);
  }

  listProcessing(): Promise<QueuedManifest[]> {
    return this.listManifests(this.processingDir);
  }

  /** Moves a queued manifest into processing/. False if it is gone or a namesake is in flight. */
  async claim(name: string): Promise<boolean> {
    const target = join(this.processingDir, name);
    if (existsSync(target)) return false;
    try {
      await rename(join(this.queueDir, name), target);
      return true;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
  }

  /** Puts a cancelled manifest back in the queue. False if a namesake was dropped meanwhile (it stays in processing/). */
  async requeue(name: string): Promise<boolean> {
    const target = join(this.queueDir, name);
    if (existsSync(target)) return false;
    await rename(join(this.processingDir, name), target);
    return true;
  }

  /** A file name (the manifest's, else my-vm-1.json ...) under which neither the manifest nor any
   * result file exists yet in `dir` — result files of job `jobId` itself excepted: a filing
   * interrupted before the manifest moved (its host killed) is finished under the same name. */
  private async freeName(dir: string, name: string, suffixes: string[], jobId?: string): Promise<string> {
    const ext = extname(name);
    const stem = manifestStem(name);
    const ours = async (f: string) => jobId !== undefined && (await readFile(f, 'utf8').then((t) => JSON.parse(t)?.job_id === jobId, () => false));
    for (let i = 0; ; i++) {
      const n = i === 0 ? name : `${stem}-${i}${ext}`;
      if (existsSync(join(dir, n))) continue;
      let free = true;
      for (const suf of suffixes) if (existsSync(join(dir, n + suf)) && !(await ours(join(dir, n + suf)))) free = false;
      if (free) return n;
    }
  }

  /** Writes the result files, then moves the manifest out of processing/ (the commit point).
   * `jobId`: the run's id, which the result files carry (their job_id). */
  async finish(name: string, state: FinalState, results: Record<string, unknown>, now = new Date(), jobId?: string): Promise<FinishedManifest> {
    const dir = join(this.root, state === 'processed' ? PROCESSED_DIR : FAILED_DIR, localDate(now));
    await mkdir(dir, { recursive: true });
    const suffixes = Object.keys(results);
    const filed = await this.freeName(dir, name, suffixes, jobId);
    const files: string[] = [];
    for (const [suffix, data] of Object.entries(results)) {
      const file = join(dir, filed + suffix);
      const tmp = join(dir, `.${filed}${suffix}.${process.pid}.tmp`);
      await writeFile(tmp, JSON.stringify(data, null, 2) + '\n');
      await rename(tmp, file);
      files.push(file);
    }
    const manifestPath = join(dir, filed);
    await rename(join(this.processingDir, name), manifestPath);
    return { manifestPath, files };
  }
}
