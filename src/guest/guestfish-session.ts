// One libguestfs appliance per image: `guestfish --listen` starts it once, every step talks to it
// through `guestfish --remote`, and close() always shuts it down (also on errors and aborts).
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { H2kError } from '../util/errors.js';
import { detectAccel, libguestfsEnv, type Accel } from './accel.js';
import { detectImageFormat } from './image-format.js';

export interface SessionOptions {
  readonly: boolean;
  /** Known format (e.g. h2k's own scratch overlay, which has a backing file): skips detection. */
  format?: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/** Lines guestfish prints for failed commands; with the `-` prefix the server survives them. */
const ERROR_LINE = /^(libguestfs: error: |error: |guestfish: )/m;

export class GuestfishSession {
  private closed = false;
  private readonly scratch: string;
  private seq = 0;
  private logOffset = 0;

  private constructor(
    readonly image: string,
    readonly pid: number,
    readonly accel: Accel,
    private readonly env: NodeJS.ProcessEnv,
    scratch: string,
    private readonly signal?: AbortSignal,
    private readonly trace?: (line: string) => void,
  ) {
    this.scratch = scratch;
  }

  /** Starts the appliance on `image` (read-only when asked) and launches it. */
  static async open(image: string, options: SessionOptions): Promise<GuestfishSession> {
    const log = options.log ?? defaultLog;
    throwIfAborted(options.signal);
    const format = options.format ?? (await detectImageFormat(image, options.signal));
    const accel = await detectAccel();
    if (accel === 'tcg') log('KVM not usable, using TCG (the libguestfs appliance will be slow)');
    const env = libguestfsEnv(accel);
    const args = ['--listen', `--format=${format}`, '-a', image];
    if (options.readonly) args.splice(1, 0, '--ro');
    const scratch = await mkdtemp(join(tmpdir(), 'h2k-guestfish-'));
    let pid: number;
    try {
      pid = await startListener(args, env, join(scratch, 'guestfish.log'));
    } catch (err) {
      await rm(scratch, { recursive: true, force: true });
      throw err;
    }
    // H2K_GUEST_TRACE=1: every appliance command with its wall time, to see where a fix spends it
    const trace = process.env.H2K_GUEST_TRACE === '1' ? (line: string) => log(`trace ${line}`) : undefined;
    const session = new GuestfishSession(image, pid, accel, env, scratch, options.signal, trace);
    try {
      log(`starting libguestfs appliance for ${image}${options.readonly ? ' (read-only)' : ''}`);
      await session.call('run');
      return session;
    } catch (err) {
      await session.close();
      throw err;
    }
  }

  /** Runs one guestfish command; throws E_GUEST_COMMAND with guestfish's message when it fails. */
  async call(command: string, ...args: string[]): Promise<string> {
    if (this.closed) throw new H2kError('the libguestfs session is already closed', { code: 'E_INTERNAL' });
    throwIfAborted(this.signal);
    for (const a of args)
      if (a === ':' || a.includes('\n'))
        throw new H2kError(`argument not passable to guestfish: ${JSON.stringify(a)}`, { code: 'E_INTERNAL' });
    // The leading '-' keeps the server alive when the command fails; we read the error from stderr.
    const started = Date.now();
    const { stdout, stderr } = await run('guestfish', [`--remote=${this.pid}`, '--', `-${command}`, ...args], this.env, this.signal);
    if (this.trace) this.trace(`${((Date.now() - started) / 1000).toFixed(1)} s  ${command} ${args.join(' ')}`.trimEnd());
    if (/server is not running/.test(stderr))
      throw new H2kError(`the libguestfs appliance for ${this.image} stopped unexpectedly`, {
        code: 'E_GUEST_SESSION', file: this.image, hint: 'run with LIBGUESTFS_DEBUG=1 to see why the appliance died',
      });
    // The server runs the command and prints its errors to its own stderr (our log file):
    // what it appended during this call belongs to this call, as calls are serialized.
    const serverErrors = await this.newServerLog();
    const errors = [stderr, serverErrors].filter((e) => ERROR_LINE.test(e)).join('\n');
    if (errors)
      throw new H2kError(`guestfish ${command}: ${errors.trim().replace(/^libguestfs: error: /gm, '')}`, {
        code: 'E_GUEST_COMMAND', file: this.image,
      });
    return stdout;
  }

  private async newServerLog(): Promise<string> {
    const handle = await open(join(this.scratch, 'guestfish.log'), 'r');
    try {
      const { size } = await handle.stat();
      if (size <= this.logOffset) return '';
      const length = Math.min(size - this.logOffset, 1024 * 1024);
      const buf = Buffer.alloc(length);
      await handle.read(buf, 0, length, this.logOffset);
      this.logOffset = size;
      return buf.toString('utf8');
    } finally {
      await handle.close();
    }
  }

  /** Lines of a command's output, empty lines dropped. */
  async lines(command: string, ...args: string[]): Promise<string[]> {
    return (await this.call(command, ...args)).split('\n').filter((l) => l !== '');
  }

  async exists(path: string): Promise<boolean> {
    return (await this.call('exists', path)).trim() === 'true';
  }

  async isFile(path: string): Promise<boolean> {
    return (await this.call('is-file', path, 'followsymlinks:true')).trim() === 'true';
  }

  async isDir(path: string): Promise<boolean> {
    return (await this.call('is-dir', path, 'followsymlinks:true')).trim() === 'true';
  }

  /** True for a symlink, dangling or not (exists() follows links). */
  async isSymlink(path: string): Promise<boolean> {
    try {
      return (await this.call('is-symlink', path)).trim() === 'true';
    } catch {
      return false; // lstat failed: nothing there
    }
  }

  /** Paths matching a glob inside the guest (sorted, empty when none). */
  async glob(pattern: string): Promise<string[]> {
    return (await this.lines('glob-expand', pattern)).sort();
  }

  /** A guest file's bytes, copied out through a scratch file (content never passes through argv). */
  async readFile(path: string): Promise<Buffer> {
    const local = join(this.scratch, `dl-${++this.seq}`);
    await this.call('download', path, local);
    try {
      return await readFile(local);
    } finally {
      await rm(local, { force: true });
    }
  }

  /** `size` bytes of a guest device or file from `offset` (download-offset: binary-safe, never through argv). */
  async readBytes(path: string, offset: number, size: number): Promise<Buffer> {
    const local = join(this.scratch, `dl-${++this.seq}`);
    await this.call('download-offset', path, local, String(offset), String(size));
    try {
      return await readFile(local);
    } finally {
      await rm(local, { force: true });
    }
  }

  async readText(path: string): Promise<string> {
    return (await this.readFile(path)).toString('utf8');
  }

  async writeText(path: string, content: string): Promise<void> {
    return this.writeFile(path, content);
  }

  /** Writes a guest file through upload, keeping its mode and owner when it already exists. */
  async writeFile(path: string, content: string | Uint8Array): Promise<void> {
    const local = join(this.scratch, `ul-${++this.seq}`);
    await writeFile(local, content);
    try {
      await this.call('upload', local, path);
    } finally {
      await rm(local, { force: true });
    }
  }

  /** Runs a command inside the guest (chrooted; needs the guest's /bin/sh). */
  async sh(command: string): Promise<string> {
    return this.call('sh', command);
  }

  /** Shuts the appliance down; never throws, safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await run('guestfish', [`--remote=${this.pid}`, '--', 'exit'], this.env, undefined, 120_000);
    } catch {
      // fall through to the kill below
    }
    if (!(await waitForExit(this.pid, 30_000))) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await rm(this.scratch, { recursive: true, force: true });
  }
}

/** Opens a session, runs `fn`, and always shuts the appliance down. */
export async function withGuestSession<T>(image: string, options: SessionOptions, fn: (s: GuestfishSession) => Promise<T>): Promise<T> {
  const session = await GuestfishSession.open(image, options);
  const onAbort = () => void session.close();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await fn(session);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await session.close();
  }
}

function defaultLog(line: string): void {
  process.stderr.write(`h2k: guest: ${line}\n`);
}

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new H2kError('guest operation cancelled', { code: 'E_CANCELLED' });
}

async function startListener(args: string[], env: NodeJS.ProcessEnv, logFile: string): Promise<number> {
  // `--listen` forks a server and the foreground process exits after printing GUESTFISH_PID=N.
  // The server inherits stderr, so stderr goes to a file: a pipe would stay open for the
  // server's whole life (and closing it early would kill the server with SIGPIPE).
  const errFd = openSync(logFile, 'a');
  try {
    const { stdout, code } = await new Promise<{ stdout: string; code: number | null }>((resolve, reject) => {
      const child = spawn('guestfish', args, { env, stdio: ['ignore', 'pipe', errFd] });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.on('error', (e: NodeJS.ErrnoException) =>
        reject(new H2kError(e.code === 'ENOENT' ? 'guestfish is not installed' : `cannot start guestfish: ${e.message}`, {
          code: 'E_GUEST_TOOLS_MISSING', hint: 'install libguestfs-tools (scripts/setup-system.sh does)',
        })));
      // stdout is closed by the server too, so 'close' fires once the foreground process is done
      child.on('close', (c) => resolve({ stdout: out, code: c }));
    });
    const m = /GUESTFISH_PID=(\d+)/.exec(stdout);
    if (code !== 0 || !m) {
      const stderr = readFileSync(logFile, 'utf8').trim();
      throw new H2kError(`guestfish could not open the image: ${stderr || stdout.trim()}`, { code: 'E_GUEST_SESSION' });
    }
    return Number(m[1]);
  } finally {
    closeSync(errFd);
  }
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, signal?: AbortSignal, timeoutMs = 1_800_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env, signal, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ABORT_ERR')
        return reject(new H2kError('guest operation cancelled', { code: 'E_CANCELLED' }));
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT')
        return reject(new H2kError('guestfish is not installed', { code: 'E_GUEST_TOOLS_MISSING', hint: 'install libguestfs-tools' }));
      if (err && (err as { killed?: boolean }).killed)
        return reject(new H2kError(`guestfish ${args[2] ?? ''} timed out`, { code: 'E_TIMEOUT' }));
      // Non-zero exit without output is judged by the caller from stderr.
      resolve({ stdout, stderr });
    });
  });
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}
