// The virtio-win drivers for one guest: looked up in a tree laid out as the virtio-win ISO is
// (<driver>/<os>/<arch>/), from a directory or from the ISO itself, read through libguestfs.
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { H2kError } from '../../util/errors.js';
import { withGuestSession } from '../guestfish-session.js';

/** Boot-critical storage drivers first; the rest are staged for the first-boot install. */
export const BOOT_DRIVERS = ['viostor', 'vioscsi'];
export const STAGED_DRIVERS = ['NetKVM', 'Balloon', 'vioserial', 'vioinput', 'viorng', 'qxldod', 'pvpanic', 'fwcfg'];

export interface DriverSet {
  name: string;        // directory name in the tree (viostor, NetKVM, ...)
  dir: string;         // local directory holding its .sys/.inf/.cat
  files: string[];     // file names in dir
  os: string;          // the os directory it came from
}

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

/** Case-insensitive child lookup (ISO readers differ in case: NetKVM, netkvm). */
async function child(dir: string, name: string): Promise<string | null> {
  const hit = (await entries(dir)).find((e) => e.toLowerCase() === name.toLowerCase());
  return hit === undefined ? null : join(dir, hit);
}

/** Picks each driver's directory for the first os directory that has it. */
export async function selectDrivers(tree: string, osDirs: string[], arch: string): Promise<DriverSet[]> {
  const found: DriverSet[] = [];
  for (const name of [...BOOT_DRIVERS, ...STAGED_DRIVERS]) {
    const top = await child(tree, name);
    if (!top) continue;
    for (const os of osDirs) {
      const osDir = await child(top, os);
      const dir = osDir && (await child(osDir, arch));
      if (!dir) continue;
      const files = (await entries(dir)).filter((f) => /\.(sys|inf|cat|dll|exe)$/i.test(f)).sort();
      if (files.length) {
        found.push({ name, dir, files, os });
        break;
      }
    }
  }
  return found;
}

/** The os directories the tree offers for viostor (for error messages). */
export async function offeredOsDirs(tree: string): Promise<string[]> {
  const top = await child(tree, 'viostor');
  return top ? (await entries(top)).sort() : [];
}

/** A local tree for `source`: the directory itself, or the ISO's content copied out through libguestfs. */
export async function openVirtioWin(
  source: string, osDirs: string[], arch: string, signal?: AbortSignal, log?: (l: string) => void,
): Promise<{ tree: string; cleanup: () => Promise<void> }> {
  let st;
  try {
    st = await stat(source);
  } catch {
    throw new H2kError(`virtio-win drivers not found: ${source}`, { code: 'E_GUEST_WINDOWS_VIRTIO_WIN', file: source, hint: 'pass the virtio-win ISO or a directory with its content (--virtio-win, virtio_drivers_dir)' });
  }
  if (st.isDirectory()) return { tree: source, cleanup: async () => {} };
  const tree = await mkdtemp(join(tmpdir(), 'h2k-virtio-win-'));
  try {
    await withGuestSession(source, { readonly: true, format: 'raw', signal, log }, async (s) => {
      const fs = (await s.lines('list-filesystems')).map((l) => l.slice(0, l.lastIndexOf(': ')));
      if (!fs.length) throw new H2kError(`${source} holds no filesystem: not a virtio-win ISO`, { code: 'E_GUEST_WINDOWS_VIRTIO_WIN', file: source });
      await s.call('mount-ro', fs[0]!, '/');
      const find = async (dir: string, name: string) => (await s.lines('ls', dir)).find((e) => e.toLowerCase() === name.toLowerCase());
      // only the directories this guest needs: the whole ISO is hundreds of MiB
      for (const name of [...BOOT_DRIVERS, ...STAGED_DRIVERS]) {
        const top = await find('/', name);
        if (!top) continue;
        for (const os of osDirs) {
          const o = await find(`/${top}`, os);
          const a = o && (await s.isDir(`/${top}/${o}`)) ? await find(`/${top}/${o}`, arch) : undefined;
          if (!o || !a) continue;
          await mkdir(join(tree, top, o), { recursive: true });
          await s.call('copy-out', `/${top}/${o}/${a}`, join(tree, top, o));
          break;
        }
      }
    });
  } catch (err) {
    await rm(tree, { recursive: true, force: true });
    throw err;
  }
  return { tree, cleanup: () => rm(tree, { recursive: true, force: true }) };
}
