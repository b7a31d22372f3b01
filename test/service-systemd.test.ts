// The daemon as a systemd service, without systemd: a unix datagram listener (python3's socket
// module, an implementation independent of h2k's) stands in for $NOTIFY_SOCKET and records what
// both daemon modes send (READY, STATUS, STOPPING, RELOADING + MONOTONIC_USEC, WATCHDOG); stderr
// made a file named by $JOURNAL_STREAM stands in for the journal and must get <N> priorities.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, fstatSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger, stderrIsJournal } from '../src/service/logger.js';
import { systemdNotify } from '../src/service/systemd-notify.js';
import { h2kBin, repoRoot, runH2k } from './helpers/cli.js';
import { daemonTestScope, waitFor } from './helpers/daemon-harness.js';
import { makeSeededRaw } from './helpers/fixtures.js';
import { workflowTree } from './helpers/workflow-fixtures.js';
import { startWorkflowDaemon } from './helpers/workflow-daemon.js';

const { fx, start } = daemonTestScope('systemd');

const LISTENER = `
import json, socket, sys, time
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\\0' + addr[1:] if addr.startswith('@') else addr)
print(json.dumps({'bound': True}), flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps({'usec': time.monotonic_ns() // 1000, 'msg': data.decode()}), flush=True)
`;

interface Datagram {
  usec: number;
  /** KEY=VALUE lines as one object */
  fields: Record<string, string>;
}

interface Listener {
  address: string;
  got: Datagram[];
  /** the first datagram (after `from`) that has `key` (and value when given) */
  wait(key: string, value?: string, from?: number): Promise<Datagram>;
  close(): void;
}

const listeners: ChildProcess[] = [];
afterAll(() => listeners.forEach((p) => p.kill()));

async function listen(address: string): Promise<Listener> {
  const proc = spawn('python3', ['-c', LISTENER, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  listeners.push(proc);
  const got: Datagram[] = [];
  let bound = false;
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    const j = JSON.parse(line) as { bound?: true; usec: number; msg: string };
    if (j.bound) bound = true;
    else got.push({ usec: j.usec, fields: Object.fromEntries(j.msg.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])) });
  });
  await waitFor('listener bound', () => bound, 10_000);
  const find = (key: string, value: string | undefined, from: number) =>
    got.slice(from).find((d) => key in d.fields && (value === undefined || d.fields[key] === value));
  return {
    address,
    got,
    wait: (key, value, from = 0) => waitFor(() => `datagram ${key}=${value ?? '*'}; got ${JSON.stringify(got.map((d) => d.fields))}`, () => find(key, value, from), 60_000),
    close: () => proc.kill(),
  };
}

const silentLog = createLogger({ format: 'json', write: () => undefined });

describe('sd_notify', () => {
  it('abstract @socket: READY with status, RELOADING with MONOTONIC_USEC on CLOCK_MONOTONIC, STOPPING; the variables leave the environment', async () => {
    const l = await listen(`@h2k-test-${process.pid}-a`);
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: l.address };
    const sd = systemdNotify(silentLog, env);
    expect(sd.enabled).toBe(true);
    expect(env).toEqual({});
    sd.ready('up');
    expect((await l.wait('READY')).fields).toEqual({ READY: '1', STATUS: 'up' });
    sd.reloading();
    const r = await l.wait('RELOADING');
    const stamp = Number(r.fields.MONOTONIC_USEC);
    // sent before python received it, and not long before: the same clock
    expect(stamp).toBeLessThanOrEqual(r.usec);
    expect(r.usec - stamp).toBeLessThan(10_000_000); // another clock would be off by hours (uptime)
    sd.ready();
    await l.wait('READY', '1', l.got.indexOf(r) + 1);
    sd.stopping('test');
    expect((await l.wait('STOPPING')).fields.STATUS).toBe('stopping (test)');
    sd.close();
    l.close();
  });

  it('WATCHDOG=1 every half of WATCHDOG_USEC for this pid only; no socket means no-op', async () => {
    const l = await listen(join(fx.dir, 'notify.sock'));
    const sd = systemdNotify(silentLog, { NOTIFY_SOCKET: l.address, WATCHDOG_USEC: '200000', WATCHDOG_PID: String(process.pid) });
    const pings = () => l.got.filter((d) => d.fields.WATCHDOG === '1').length;
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 1000));
    sd.close();
    const elapsed = Date.now() - t0;
    // wait until what was sent has arrived: the count holds still (it never would if close() had not stopped the pings)
    let seen = -1;
    await waitFor('watchdog pings to stop', async () => {
      const n = pings();
      if (n === seen) return true;
      seen = n;
      await new Promise((r) => setTimeout(r, 400));
      return false;
    }, 30_000, 0);
    // every 100 ms (half of 200 ms): never more often; fewer only on a loaded machine
    expect(seen).toBeLessThanOrEqual(Math.floor(elapsed / 100) + 1);
    expect(seen).toBeGreaterThanOrEqual(3);
    const after = l.got.length;
    const other = systemdNotify(silentLog, { NOTIFY_SOCKET: l.address, WATCHDOG_USEC: '100000', WATCHDOG_PID: '1' });
    await new Promise((r) => setTimeout(r, 300));
    other.close();
    await new Promise((r) => setTimeout(r, 400));
    expect(l.got.length).toBe(after); // WATCHDOG_PID names another process: no pings
    l.close();
    expect(systemdNotify(silentLog, {}).enabled).toBe(false);
  });

  it('the watch-folder daemon: READY once ctl answers, STATUS follows the queue, STOPPING on stop', async () => {
    const l = await listen(join(fx.dir, 'daemon-notify.sock'));
    const h = await start({ env: { NOTIFY_SOCKET: l.address } });
    await l.wait('READY');
    expect((await h.ctl(['status'])).code).toBe(0);
    copyFileSync(makeSeededRaw(join(fx.dir, 'one.raw'), 2, 5), join(h.watchDir, 'one.raw'));
    const done = await l.wait('STATUS', 'running: 0 queued, 0 running; 1 done, 0 failed');
    // STATUS goes out with the snapshot, just before stats.json is written from it
    await h.until('stats.json to show the job', () => h.statsFile().total_processed === 1, 10_000);
    // ExecReload: SIGHUP -> RELOADING=1 (with MONOTONIC_USEC), then READY=1 once the config is applied.
    h.proc.kill('SIGHUP');
    const reloading = await l.wait('RELOADING', '1', l.got.indexOf(done));
    expect(Number(reloading.fields.MONOTONIC_USEC)).toBeGreaterThan(0);
    await l.wait('READY', '1', l.got.indexOf(reloading) + 1);
    await h.waitForEvent('config_reloaded');
    expect((await h.ctl(['stop'])).code).toBe(0);
    const stopping = await l.wait('STOPPING', '1', l.got.indexOf(done));
    expect(stopping.fields.STATUS).toBe('stopping (control socket)');
    expect((await h.exited).code).toBe(0);
    l.close();
  });

  it('the manifest workflow daemon: READY, STATUS, STOPPING on SIGTERM', async () => {
    const tree = workflowTree('systemd-wf');
    const l = await listen(join(tree.root, 'wf-notify.sock'));
    const d = await startWorkflowDaemon(tree.root, tree.workflowDir, tree.outputDir, 1, {}, { NOTIFY_SOCKET: l.address });
    await l.wait('READY');
    await l.wait('STATUS', 'running: 0 queued, 0 running; 0 done, 0 failed');
    expect((await d.stop()).code).toBe(0);
    expect((await l.wait('STOPPING')).fields.STATUS).toBe('stopping (SIGTERM)');
    l.close();
    tree.cleanup();
  });
});

describe('journald priorities', () => {
  it('stderrIsJournal compares $JOURNAL_STREAM with fd 2', () => {
    const st = fstatSync(2, { bigint: true });
    expect(stderrIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino}` })).toBe(true);
    expect(stderrIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino + 1n}` })).toBe(false);
    expect(stderrIsJournal({})).toBe(false);
    const lines: string[] = [];
    const log = createLogger({ format: 'human', verbose: 2, journal: true, write: (x) => lines.push(x) });
    log.error('e', 'E');
    log.warn('w', 'W');
    log.info('i', 'I');
    log.debug('d', 'D');
    expect(lines.map((x) => x.slice(0, 3))).toEqual(['<3>', '<4>', '<6>', '<7>']);
  });

  it('a real daemon whose stderr is the "journal" prefixes every line; the log file gets none', async () => {
    const root = join(fx.dir, 'journal');
    const out = join(root, 'out');
    const stderrPath = join(fx.dir, 'journal.stderr');
    const logFile = join(fx.dir, 'journal.log');
    const config = join(fx.dir, 'journal.yaml');
    writeFileSync(config, stringify({ watch_dir: join(root, 'watch'), output_dir: out, log_file: logFile, file_stable_timeout: 0.5 }));
    // a stale .partial for a warning (<4>), a file in the watch folder for a debug line (<7>)
    mkdirSync(join(root, 'watch'), { recursive: true });
    makeSeededRaw(join(root, 'watch', 'seen.raw'), 1, 3);
    mkdirSync(join(out, '2026-01-01'), { recursive: true });
    writeFileSync(join(out, '2026-01-01', 'vm.qcow2.partial'), 'x');
    const fd = openSync(stderrPath, 'w');
    const st = fstatSync(fd, { bigint: true });
    const proc = spawn(process.execPath, [h2kBin, 'daemon', '--config', config, '--verbose', '2'], {
      cwd: repoRoot,
      env: { ...process.env, JOURNAL_STREAM: `${st.dev}:${st.ino}` },
      stdio: ['ignore', 'ignore', fd],
    });
    closeSync(fd);
    const exited = new Promise<number | null>((r) => proc.on('exit', (c) => r(c)));
    await waitFor('daemon started', () => readFileSync(stderrPath, 'utf8').includes('New file: seen.raw'), 60_000);
    expect((await runH2k(['ctl', '--output-dir', out, 'stop'])).code).toBe(0);
    expect(await exited).toBe(0);
    const lines = readFileSync(stderrPath, 'utf8').trimEnd().split('\n');
    for (const line of lines) expect(line).toMatch(/^<[3467]>\d{4}-/);
    expect(lines.find((x) => x.includes('Daemon started'))).toMatch(/^<6>.* INFO  Daemon started/);
    expect(lines.find((x) => x.includes('Removed stale partial'))).toMatch(/^<4>.* WARN  /);
    expect(lines.some((x) => x.startsWith('<7>'))).toBe(true);
    const fileLines = readFileSync(logFile, 'utf8').trimEnd().split('\n');
    expect(fileLines.length).toBe(lines.length);
    for (const line of fileLines) expect(line).toMatch(/^\d{4}-/);
  });
});
