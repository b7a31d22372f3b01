// Locates the h2k-native debugging tool (built with -DH2K_BUILD_TOOLS=ON) and runs it.
// Order: $H2K_NATIVE_TOOL, <repo>/build/h2k-native, <repo>/build/Release/h2k-native.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export function nativeToolPath(): string {
  const candidates = [
    process.env.H2K_NATIVE_TOOL,
    resolve(here, '../../build/h2k-native'),
    resolve(here, '../../build/Release/h2k-native'),
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found)
    throw new Error(
      `h2k-native not found (looked at ${candidates.join(', ')}); run \`npm run build\` or set H2K_NATIVE_TOOL`,
    );
  return found;
}

export interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The E_... code from an "error E_X: ..." line on stderr, if any. */
  errorCode?: string;
}

export interface ToolOptions {
  timeoutMs?: number;
  /** Address-space limit in KiB (ulimit -v), to prove bounded memory on bad input. */
  memoryLimitKiB?: number;
}

export function runNativeTool(args: string[], options: ToolOptions = {}): ToolResult {
  const tool = nativeToolPath();
  const cmd = options.memoryLimitKiB
    ? spawnSync('bash', ['-c', `ulimit -v ${options.memoryLimitKiB}; exec "$0" "$@"`, tool, ...args], {
        encoding: 'utf8',
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
      })
    : spawnSync(tool, args, { encoding: 'utf8', timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 });
  const errorCode = /error (E_[A-Z0-9_]+)/.exec(cmd.stderr ?? '')?.[1];
  return { code: cmd.status, signal: cmd.signal, stdout: cmd.stdout ?? '', stderr: cmd.stderr ?? '', errorCode };
}
