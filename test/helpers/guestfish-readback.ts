// Independent read-back of guest files with plain guestfish (its own inspection and mounts,
// none of h2k's code), for asserting what h2k fix wrote.
import { execFileSync } from 'node:child_process';

const SEP = '=====H2K-READBACK=====';

export interface Readback {
  files: Record<string, string | null>; // null: the path does not exist
}

export function readGuestFiles(image: string, format: string, paths: string[]): Readback {
  const script = paths.map((p) => `-exists ${p}\necho ${SEP}\n-cat ${p}\necho ${SEP}`).join('\n') + '\n';
  const env = { ...process.env, LIBGUESTFS_BACKEND: 'direct' };
  if (!process.env.H2K_GUEST_ACCEL || process.env.H2K_GUEST_ACCEL === 'tcg') env.LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg';
  const out = execFileSync('guestfish', ['--ro', `--format=${format}`, '-a', image, '-i'], {
    input: script, env, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024, timeout: 600_000,
  });
  const parts = out.split(`${SEP}\n`);
  const files: Record<string, string | null> = {};
  paths.forEach((p, i) => {
    const exists = parts[i * 2]!.trim() === 'true';
    // guestfish's cat adds nothing; echo's newline was consumed by the split
    files[p] = exists ? parts[i * 2 + 1]! : null;
  });
  return { files };
}
