// Moves finished sources out of the watch folder without ever overwriting an earlier file. A link
// is moved as itself (rename), never followed.
import { lstat, mkdir, rename } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { localDate } from '../util/local-date.js';

// lstat: a dangling link already in .errors/ still takes its name (rename would replace it).
async function exists(p: string): Promise<boolean> {
  return lstat(p).then(() => true, () => false);
}

/** Where finished sources go today: {watch_dir}/.processed/YYYY-MM-DD/, as hyper2kvm archives them. */
export function processedDir(watchDir: string, now = new Date()): string {
  return join(watchDir, '.processed', localDate(now));
}

/** A name in `dir` that is free: name, then name.1, name.2 ... before the extension. */
export async function freeName(dir: string, name: string): Promise<string> {
  if (!(await exists(join(dir, name)))) return name;
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let i = 1; i < 10_000; i++) {
    const candidate = `${stem}.${i}${ext}`;
    if (!(await exists(join(dir, candidate)))) return candidate;
  }
  return `${stem}.${Date.now()}${ext}`;
}

/** Moves files into dir; returns their new paths in the same order. */
export async function moveInto(dir: string, files: string[]): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const moved: string[] = [];
  for (const f of files) {
    const target = join(dir, await freeName(dir, basename(f)));
    await rename(f, target);
    moved.push(target);
  }
  return moved;
}
