// What the daemon may read from its watch folder. Anyone who can write there can drop anything,
// and a conversion host runs as root next to credentials: a dropped entry must never make the
// daemon read something other than the bytes that were put there. So only plain regular files
// with a single name are taken. Symlinks, hard links, FIFOs, sockets and devices are refused on
// lstat alone: a link's target is never opened, stat'ed or hashed, and a FIFO is never opened
// (that would block). The same rules hold for the extents a VMDK descriptor names and the files
// (disks, .mf) a loose .ovf names.
import { constants, type Stats } from 'node:fs';
import { lstat, open, readlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { H2kError } from '../util/errors.js';

/** Stable code of every refusal made here (README "Watch-folder safety"). */
export const E_UNSAFE_DROP = 'E_UNSAFE_DROP';

/** What lstat saw; the later open must find the same file (dev + ino). */
export interface DropIdentity {
  dev: number;
  ino: number;
  size: number;
}

const LINK_HINT = 'copy the disk into the watch folder (cp, rsync) instead of linking it';
const SPECIAL_HINT = 'copy the disk image into the watch folder as a regular file; pipes, sockets and devices are never read';

/** Why an lstat result is not a plain one-name regular file (undefined: it is). */
async function problemOf(st: Stats, path: string): Promise<{ what: string; hint: string } | undefined> {
  if (st.isSymbolicLink()) {
    // readlink reads the link itself, never its target.
    const to = await readlink(path).catch(() => undefined);
    const shown = to === undefined ? '' : ` (to '${to.length > 200 ? `${to.slice(0, 200)}...` : to}')`;
    return { what: `is a symbolic link${shown}; the daemon never follows links`, hint: LINK_HINT };
  }
  if (st.isFile()) {
    if (st.nlink > 1)
      return { what: `is a hard link (one of ${st.nlink} names for the same file); the daemon takes only files with a single name`, hint: 'copy the disk in (cp) instead of hard-linking it (ln)' };
    return undefined;
  }
  if (st.isFIFO()) return { what: 'is a FIFO (named pipe), not a regular file', hint: SPECIAL_HINT };
  if (st.isSocket()) return { what: 'is a socket, not a regular file', hint: SPECIAL_HINT };
  if (st.isCharacterDevice()) return { what: 'is a character device, not a regular file', hint: SPECIAL_HINT };
  if (st.isBlockDevice()) return { what: 'is a block device, not a regular file', hint: SPECIAL_HINT };
  if (st.isDirectory()) return { what: 'is a directory, not a disk image', hint: 'drop disk image files, not directories' };
  return { what: 'is not a regular file', hint: SPECIAL_HINT };
}

/** What a descriptor's files are called in messages: a VMDK's extents, a loose .ovf's disk files. */
export function memberWord(descriptor: string): string {
  return /\.ovf$/i.test(descriptor) ? 'file' : 'extent';
}

/** How a refused file is named in messages: itself, or as an extent of its descriptor. */
function label(path: string, descriptor?: string): string {
  return descriptor ? `${memberWord(descriptor)} ${basename(path)} named by ${basename(descriptor)}` : basename(path);
}

/**
 * lstat-only check of one dropped file (or, with `descriptor`, one of its extents). Throws
 * E_UNSAFE_DROP for anything but a plain regular file with one name; lets ENOENT through as a
 * Node error (the file vanished: not a refusal).
 */
export async function checkDrop(path: string, descriptor?: string): Promise<DropIdentity> {
  const st = await lstat(path);
  const problem = await problemOf(st, path);
  if (problem)
    throw new H2kError(`${label(path, descriptor)} ${problem.what}`, { code: E_UNSAFE_DROP, file: path, hint: problem.hint });
  return { dev: st.dev, ino: st.ino, size: st.size };
}

/**
 * An extent name from a descriptor, checked before anything opens it: a bare name (no directory
 * part) of a plain file in the descriptor's own directory. Returns its path; undefined when it is
 * not there (yet). Throws E_PATH_ESCAPE for a name with a directory part, E_UNSAFE_DROP for a link
 * or special file.
 */
export async function checkExtent(descriptor: string, name: string): Promise<string | undefined> {
  if (name === '' || name === '.' || name === '..' || name !== basename(name) || name.includes('\0'))
    throw new H2kError(`${basename(descriptor)} names ${memberWord(descriptor)} '${name}', which is not a file next to it`, {
      code: 'E_PATH_ESCAPE',
      file: descriptor,
      hint: `keep the ${memberWord(descriptor)}s next to the descriptor and name them without a directory; the daemon reads nothing outside the watch folder`,
    });
  const path = join(dirname(descriptor), name);
  try {
    await checkDrop(path, descriptor);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return path;
}

/** Checks every file of a job (primary first, then a descriptor's extents); returns their total size. */
export async function checkJobFiles(files: readonly string[]): Promise<number> {
  let total = 0;
  for (const [i, f] of files.entries()) total += (await checkDrop(f, i === 0 ? undefined : files[0])).size;
  return total;
}

/**
 * Opens a checked file for reading without following a link and without blocking on a FIFO,
 * then makes sure it is still the file lstat saw: the second line of defence against a file
 * swapped for a link or pipe between the check and the open.
 */
export async function openChecked(path: string, expected: DropIdentity): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP')
      throw new H2kError(`${basename(path)} became a symbolic link after it was checked; the daemon never follows links`, {
        code: E_UNSAFE_DROP, file: path, hint: LINK_HINT,
      });
    throw err;
  }
  const st = await fh.stat().catch(async (err: unknown) => {
    await fh.close();
    throw err;
  });
  if (!st.isFile() || st.nlink !== 1 || st.dev !== expected.dev || st.ino !== expected.ino) {
    await fh.close();
    throw new H2kError(`${basename(path)} was replaced after it was checked (now ${st.isFile() ? `a file with ${st.nlink} name(s)` : 'not a regular file'})`, {
      code: E_UNSAFE_DROP, file: path, hint: 'drop each disk once, as a regular file, and leave it in place until it is processed',
    });
  }
  return fh;
}
