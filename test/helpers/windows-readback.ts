// Independent read-back of fixed Windows images: plain guestfish copies the hives and files out
// (none of h2k's code), hivexget/hivexregedit read the hives.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface WindowsReadback { system: string; software: string; file: (guestPath: string) => string | null }

/** One appliance for all images: each image's hives and the listed files copied into out/<n>/. */
export function readWindowsImages(images: string[], files: string[], out: string): WindowsReadback[] {
  const script = ['run'];
  images.forEach((_, n) => {
    const d = join(out, String(n));
    mkdirSync(d, { recursive: true });
    script.push(`mount-ro /dev/sd${String.fromCharCode(97 + n)}1 /`, `download /Windows/System32/config/SYSTEM ${d}/SYSTEM`, `download /Windows/System32/config/SOFTWARE ${d}/SOFTWARE`);
    files.forEach((f, i) => script.push(`-download "${f}" ${d}/file-${i}`));
    script.push('umount /');
  });
  const env: NodeJS.ProcessEnv = { ...process.env, LIBGUESTFS_BACKEND: 'direct' };
  if (process.env.H2K_GUEST_ACCEL !== 'kvm') env.LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg';
  execFileSync('guestfish', ['--ro', ...images.flatMap((i) => ['--format=qcow2', '-a', i])], { input: script.join('\n') + '\n', env, stdio: ['pipe', 'ignore', 'ignore'], timeout: 600_000 });
  return images.map((_, n) => {
    const d = join(out, String(n));
    return { system: join(d, 'SYSTEM'), software: join(d, 'SOFTWARE'), file: (p) => { const f = join(d, `file-${files.indexOf(p)}`); return existsSync(f) ? readFileSync(f, 'utf8') : null; } };
  });
}

/** A value as hivexget prints it; null when the key or value is missing. */
export function hivexget(hive: string, key: string, value: string): string | null {
  try {
    return execFileSync('hivexget', [hive, key, value], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).replace(/\n+$/, '');
  } catch {
    return null;
  }
}

/** A key and its subkeys as .reg text (hivexregedit --export). */
export function exportKey(hive: string, prefix: string, key: string): string {
  return execFileSync('hivexregedit', ['--export', '--prefix', prefix, hive, key], { encoding: 'utf8' });
}
