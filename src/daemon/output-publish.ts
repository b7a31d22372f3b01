// Output directories of a cluster, where several hosts write into one output_dir.
//
// Claim: {output_dir}/YYYY-MM-DD/<vm>[-N]/ belongs to the job whose key (its id + when it was
// queued: the same for every attempt and every host, new when the file is dropped again) is in the
// directory's .h2k-job, created with O_EXCL — so two hosts converting two different VMs of the same
// name get <vm> and <vm>-2, never one path; the names are the single host's.
//
// Publish: a job converts into a staging directory inside its claimed one; when it is done it
// renews its lease (the fence: a host whose job was taken over stops here) and links each staged
// file to its final name (link(2) fails when the name exists: nothing is overwritten). A name that
// exists was published by another attempt of the same job (a host whose lease ran out while it
// published): when that attempt's report.json appears this one's staging is dropped — one copy,
// the first left as it was. An attempt that died halfway (no report.json within the wait) is
// completed by renaming over its files: they are the same job's, and this attempt holds the lease.
// The published attempt removes the staging directories earlier attempts left; an attempt still
// running there fails, and its failure is no failure when the job is published (job-runner.ts).
import { randomBytes } from 'node:crypto';
import { link, mkdir, readdir, readFile, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { H2kError } from '../util/errors.js';

export const OWNER_FILE = '.h2k-job';
const STAGING_PREFIX = '.h2k-staging-';

const exists = (p: string) => stat(p).then(() => true, () => false);

/** What identifies one job across attempts and hosts. */
export const jobKey = (job: { id: string; queuedAt: string }) => `${job.id}\n${job.queuedAt}`;

export interface ClaimedDir {
  dir: string;
  /** another attempt of this job already published it (its report.json is there) */
  published: boolean;
}

/** Takes {day}/<vm>[-N]/ for the job `key`; `taken` holds this process's running jobs' dirs. */
export async function claimOutputDir(day: string, vm: string, key: string, taken: Set<string>): Promise<ClaimedDir> {
  for (let i = 1; i < 1000; i++) {
    const dir = join(day, i === 1 ? vm : `${vm}-${i}`);
    if (taken.has(dir)) continue;
    await mkdir(dir, { recursive: true });
    const owner = join(dir, OWNER_FILE);
    let mine = false;
    // a finished output with no owner file (written by a single host or an older h2k) is not free
    if (!(await exists(owner)) && (await exists(join(dir, 'report.json')))) continue;
    try {
      await writeFile(owner, key, { flag: 'wx' });
      mine = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      mine = (await readFile(owner, 'utf8').catch(() => '')) === key;
    }
    if (!mine || taken.has(dir)) continue;
    taken.add(dir);
    return { dir, published: await exists(join(dir, 'report.json')) };
  }
  throw new H2kError(`too many outputs named ${vm} today`, { code: 'E_OUTPUT_EXISTS', file: day });
}

/** A fresh staging directory inside a claimed one. */
export async function makeStaging(dir: string, hostName: string): Promise<string> {
  const staging = join(dir, `${STAGING_PREFIX}${hostName.replace(/[^\w.-]/g, '_')}-${randomBytes(4).toString('hex')}`);
  await mkdir(staging);
  return staging;
}

export async function dropStaging(staging: string): Promise<void> {
  await rm(staging, { recursive: true, force: true });
}

/**
 * Moves the staged files (each named as its final file) into `dir`; true when published, false
 * when another attempt of the same job had published them (the staged copies are dropped).
 * `waitMs`: how long a half-published attempt is given to write its report.json.
 */
export async function publishStaged(staging: string, dir: string, files: string[], waitMs: number): Promise<boolean> {
  let overwrite = false;
  for (const staged of files) {
    const final = join(dir, basename(staged));
    if (overwrite) {
      await rename(staged, final);
      continue;
    }
    try {
      await link(staged, final);
      await unlink(staged);
    } catch (err) {
      // EEXIST: another attempt published this name; ENOENT: its publish removed this staging
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOENT') throw err;
      if (await waitForFile(join(dir, 'report.json'), waitMs)) {
        await dropStaging(staging);
        return false;
      }
      if (code === 'ENOENT') throw err;
      // the other attempt stopped halfway: finish the job with this attempt's files
      overwrite = true;
      await rename(staged, final);
    }
  }
  await rmdir(staging).catch(() => dropStaging(staging));
  // staging left by earlier attempts of this job (a host killed mid-conversion): this one is the result
  for (const e of await readdir(dir)) if (e.startsWith(STAGING_PREFIX)) await dropStaging(join(dir, e));
  return true;
}

async function waitForFile(path: string, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await exists(path)) return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** true when an attempt of the job that owns `dir` has published it */
export const isPublished = (dir: string) => exists(join(dir, 'report.json'));

/** A job that failed for good gives its directory back (a later job of that name may take it);
 * the caller still holds the job, so staging left by its earlier attempts goes too. */
export async function releaseOutputDir(dir: string): Promise<void> {
  if (await exists(join(dir, 'report.json'))) return;
  for (const e of await readdir(dir).catch(() => [] as string[])) if (e.startsWith(STAGING_PREFIX)) await dropStaging(join(dir, e));
  await unlink(join(dir, OWNER_FILE)).catch(() => undefined);
  await rmdir(dir).catch(() => undefined);
}
