// The terminal as an operator meets it: h2k under a real pseudo-terminal (script(1)), including
// one that reports 0 columns, Ctrl-C typed into it, SIGTERM sent to the process, and a pipe.
// Every case has a timeout that fails the test instead of hanging it.
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { h2kBin, repoRoot, runH2k } from './helpers/cli.js';
import { tempDir } from './helpers/fixtures.js';

let tmp: { dir: string; cleanup: () => void };
let source: string;

beforeAll(() => {
  tmp = tempDir('terminal');
  source = join(tmp.dir, 'random.raw');
  // Random data through zlib on one thread: a conversion that lasts a few seconds.
  execFileSync('dd', ['if=/dev/urandom', `of=${source}`, 'bs=1M', 'count=256', 'status=none']);
});
afterAll(() => tmp?.cleanup());

interface PtyRun {
  code: number | null;
  screen: string;
}

/** Runs `h2k args` inside script(1) with the given terminal size; `onScreen` may type into it. */
function inPty(args: string[], cols: number, onScreen?: (screen: string, type: (s: string) => void) => void, timeoutMs = 60_000): Promise<PtyRun> {
  const quoted = [process.execPath, h2kBin, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', `stty cols ${cols} rows 24; exec ${quoted}`, '/dev/null'], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    const type = (s: string) => child.stdin.write(s);
    child.stdout.on('data', (d) => {
      screen += d;
      onScreen?.(screen, type);
    });
    child.stderr.on('data', (d) => (screen += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`h2k ${args.join(' ')} did not finish within ${timeoutMs} ms under a ${cols}-column terminal:\n${screen.slice(-500)}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, screen });
    });
  });
}

const convertArgs = (out: string, ...extra: string[]) => ['convert', source, '-f', 'raw', '-o', out, '-c', '--threads', '1', ...extra];

describe('progress on a terminal', () => {
  it('a 0-column terminal neither hangs nor garbles: the conversion finishes with its summary', async () => {
    const out = join(tmp.dir, 'zero-cols.qcow2');
    const r = await inPty(convertArgs(out), 0);
    expect(r.code, r.screen.slice(-500)).toBe(0);
    expect(r.screen).toMatch(/\d+\.\d%/); // the progress line was drawn
    expect(r.screen).toContain('data copied:');
    expect(existsSync(out)).toBe(true);
  });

  it('shows percent, rate and ETA on an 80-column terminal; --no-progress shows none', async () => {
    const out = join(tmp.dir, 'eighty.qcow2');
    const r = await inPty(convertArgs(out), 80);
    expect(r.code).toBe(0);
    expect(r.screen).toMatch(/random\.raw \d+\.\d%  .* \/ 256 MiB  .*\/s ETA /);
    const quiet = await inPty(convertArgs(join(tmp.dir, 'quiet.qcow2'), '--no-progress'), 80);
    expect(quiet.code).toBe(0);
    expect(quiet.screen).not.toMatch(/\d+\.\d%/);
  });

  it('prints no progress when stderr is not a terminal', async () => {
    const r = await runH2k(convertArgs(join(tmp.dir, 'piped.qcow2')));
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toContain('\r');
  });
});

describe('interrupting a conversion', () => {
  it('Ctrl-C typed on the terminal removes the .partial output and exits 130', async () => {
    const out = join(tmp.dir, 'ctrl-c.qcow2');
    let typed = false;
    const r = await inPty(convertArgs(out), 80, (screen, type) => {
      if (!typed && /\d+\.\d%/.test(screen)) {
        typed = true;
        type('\x03');
      }
    });
    expect(typed).toBe(true);
    expect(r.code, r.screen.slice(-300)).toBe(130);
    expect(r.screen).toContain('E_CANCELLED');
    expect(readdirSync(tmp.dir).filter((f) => f.startsWith('ctrl-c'))).toEqual([]);
  });

  it('SIGTERM removes the .partial output and exits 143', async () => {
    const out = join(tmp.dir, 'sigterm.qcow2');
    const child = spawn(process.execPath, [h2kBin, ...convertArgs(out)], { cwd: repoRoot, stdio: 'ignore' });
    const code = await new Promise<number | null>((resolve) => {
      const poll = setInterval(() => {
        if (existsSync(`${out}.partial`)) {
          clearInterval(poll);
          child.kill('SIGTERM');
        }
      }, 20);
      child.on('close', (c) => {
        clearInterval(poll);
        resolve(c);
      });
    });
    expect(code).toBe(143);
    expect(readdirSync(tmp.dir).filter((f) => f.startsWith('sigterm'))).toEqual([]);
  });
});
