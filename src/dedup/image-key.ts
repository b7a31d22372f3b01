// What identifies an image in the dedup database: the bytes of every file it is made of, hashed
// as one stream. A VMDK descriptor names its extents, so its key covers the descriptor and then
// each extent in the descriptor's order (the order in which the daemon's watcher lists a job's
// files): a changed extent behind an unchanged descriptor is not taken for a duplicate. For a
// single-file image the key is simply the file's own hash. The daemon and `h2k hash --dedup-db` /
// `h2k dedup check` all go through here, so they agree on keys and sizes. The daemon hashes only
// files that passed its drop checks (src/daemon/drop-guard.ts), with the addon in plain-files-only
// mode; the CLI commands hash what the user names, links included.
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { classifyFile } from '../daemon/image-files.js';
import { hashFile } from '../hash/hash-file.js';
import { H2kError } from '../util/errors.js';

export type DedupKeyAlgorithm = 'md5' | 'xxh3';

export interface ImageFiles {
  /** The file named first, then the extents it names. */
  files: string[];
  /** All of them together (what the daemon matches by name + size). */
  sizeBytes: number;
}

/** The files `path` is made of: itself, plus a VMDK descriptor's extents (same directory). */
export async function imageFilesOf(path: string): Promise<ImageFiles> {
  const role = await classifyFile(path);
  if (role.kind === 'descriptor' && role.unsafeExtents.length)
    throw new H2kError(`descriptor names extents outside its directory: ${role.unsafeExtents.join(', ')}`, {
      code: 'E_PATH_ESCAPE', file: path, hint: 'keep the extents next to the descriptor and name them without a directory',
    });
  const files = role.kind === 'descriptor' ? [path, ...role.extents.map((x) => join(dirname(path), x))] : [path];
  return { files, sizeBytes: await totalSize(files) };
}

async function totalSize(files: readonly string[]): Promise<number> {
  let total = 0;
  for (const f of files) total += (await stat(f)).size;
  return total;
}

/** The key digests of an image made of `files` (see imageFilesOf). */
export async function imageKeyDigests(
  files: readonly string[],
  algorithms: readonly DedupKeyAlgorithm[],
  signal?: AbortSignal,
): Promise<Partial<Record<DedupKeyAlgorithm, string>>> {
  if (algorithms.length === 0) return {};
  const digests = await hashFile(files, algorithms, { signal });
  const out: Partial<Record<DedupKeyAlgorithm, string>> = {};
  for (const a of algorithms) if (digests[a]) out[a] = digests[a];
  return out;
}
