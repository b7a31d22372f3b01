// Where a service keeps its state ({output_dir}/.daemon/), its version, and the directory rule
// both job sources check (their input and output directories must be apart).
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { packageRoot } from '../native/addon.js';
import { H2kError } from '../util/errors.js';

export interface DaemonPaths {
  stateDir: string;
  statsFile: string;
  socket: string;
  dedupDb: string;
}

/** With queue_url several hosts share output_dir: each keeps its socket and stats.json in
 * {output_dir}/.daemon/<host_name>/ (the default host name: the machine's). */
export function daemonPaths(cfg: { output_dir: string; control_socket?: string; queue_url?: string; host_name?: string }): DaemonPaths {
  const shared = join(resolve(cfg.output_dir), '.daemon');
  const stateDir = cfg.queue_url ? join(shared, cfg.host_name || hostname()) : shared;
  return {
    stateDir,
    statsFile: join(stateDir, 'stats.json'),
    socket: cfg.control_socket ? resolve(cfg.control_socket) : join(stateDir, 'control.sock'),
    dedupDb: join(shared, 'deduplication.db'),
  };
}

export async function h2kVersion(): Promise<string> {
  try {
    return (JSON.parse(await readFile(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** True when `child` is `parent` itself or lies beneath it (lexically). */
export function sameOrInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
}

/** Refuses an input directory and an output directory of which one holds the other. */
export function assertApart(inKey: string, input: string, output: string, note = ''): void {
  if (sameOrInside(input, output) || sameOrInside(output, input))
    throw new H2kError(`${inKey} and output_dir must be separate directories, neither inside the other`, {
      code: 'E_CONFIG',
      hint: `${inKey}=${input} output_dir=${output}${note}`,
    });
}
