// Config reload in the real daemon (both modes): SIGHUP and `h2k ctl reload` re-read the config
// file, apply log level, notifications, max_concurrent_jobs and retry policy without dropping a
// job, warn "restart needed" for keys that cannot change live, and refuse an invalid file while
// the running config stays. Oracles: the job reports' time spans, a loopback webhook, the log.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { runH2k } from './helpers/cli.js';
import { makeSeededRaw } from './helpers/fixtures.js';
import { daemonTestScope, type DaemonHarness } from './helpers/daemon-harness.js';
import { startWorkflowDaemon } from './helpers/workflow-daemon.js';

const { fx, start } = daemonTestScope('service-reload');

const bodies: { event: string }[] = [];
const hook = createServer((req, res) => {
  let data = '';
  req.on('data', (c) => (data += c));
  req.on('end', () => {
    bodies.push(JSON.parse(data));
    res.writeHead(200).end();
  });
});
const hookUrl = new Promise<string>((r) => hook.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(hook.address() as { port: number }).port}/hooks/SECRET-TOKEN-77`)));
afterAll(() => hook.close());

function rewrite(path: string, changes: Record<string, unknown>): void {
  writeFileSync(path, stringify({ ...parse(readFileSync(path, 'utf8')), ...changes }));
}

function reportSpan(h: DaemonHarness, vm: string): [number, number] {
  const done = h.events.find((e) => e.event === 'job_succeeded' && String(e.file).endsWith(`/${vm}.img`))!;
  const r = JSON.parse(readFileSync(join(dirname(done.output as string), 'report.json'), 'utf8'));
  return [Date.parse(r.started_at), Date.parse(r.finished_at)];
}

describe('config reload', () => {
  it('SIGHUP applies concurrency, log level and notifications live, warns about watch_dir, and drops no job', { timeout: 180_000 }, async () => {
    const raw = makeSeededRaw(join(fx.dir, 'base.raw'), 16, 3);
    const h = await start({ config: { max_concurrent_jobs: 1, compression: 'zlib', threads: 1, file_extensions: ['.img'] } });
    expect((await h.ctl(['pause'])).code).toBe(0);
    for (const n of ['a', 'b', 'c']) copyFileSync(raw, join(fx.dir, `${n}.img`));
    for (const n of ['a', 'b', 'c']) copyFileSync(join(fx.dir, `${n}.img`), join(h.watchDir, `${n}.img`));
    await h.until('3 queued', () => h.count('job_queued') === 3);
    expect(h.count('file_seen')).toBe(0); // debug lines are off at verbose 1

    const other = join(h.root, 'elsewhere');
    mkdirSync(other);
    rewrite(h.configPath, {
      max_concurrent_jobs: 3,
      verbose: 2,
      watch_dir: other,
      notifications: { enabled: true, on_success: true, on_failure: false, on_stalled: false, webhook_type: 'generic', webhook_url: await hookUrl },
    });
    h.proc.kill('SIGHUP');
    const reloaded = await h.waitForEvent('config_reloaded');
    expect([...(reloaded.applied as string[])].sort()).toEqual(['max_concurrent_jobs', 'notifications', 'verbose']);
    expect((await h.waitForEvent('config_restart_needed')).keys).toEqual(['watch_dir']);
    const status = JSON.parse((await h.ctl(['status', '--json'])).stdout);
    expect(status).toMatchObject({ state: 'paused', queue_depth: 3, watch_dir: h.watchDir });

    // The three queued while max_concurrent_jobs was 1 now run side by side.
    expect((await h.ctl(['resume'])).code).toBe(0);
    await h.until('3 converted', () => h.count('job_succeeded') === 3, 120_000);
    const spans = ['a', 'b', 'c'].map((n) => reportSpan(h, n));
    expect(Math.max(...spans.map((s) => s[0]))).toBeLessThan(Math.min(...spans.map((s) => s[1])));
    await h.until('3 webhooks', () => bodies.filter((b) => b.event === 'conversion_success').length === 3);

    // verbose 2 is live: a new file is logged at debug level; it is taken from the old watch_dir.
    copyFileSync(raw, join(h.watchDir, 'd.img'));
    await h.waitForEvent('file_seen', (e) => String(e.file).endsWith('/d.img'));
    await h.until('d converted', () => h.count('job_succeeded') === 4, 60_000);
    expect(h.stderr()).not.toContain('SECRET-TOKEN-77');
    expect(h.proc.exitCode).toBeNull();
  });

  it('an invalid config is refused with a log line and the running one stays; `h2k ctl reload` does the same as SIGHUP', { timeout: 90_000 }, async () => {
    const h = await start({ config: { max_concurrent_jobs: 2 } });
    rewrite(h.configPath, { max_concurrent_jobs: 0 });
    h.proc.kill('SIGHUP');
    const refused = await h.waitForEvent('config_reload_refused');
    expect(refused.level).toBe('error');
    expect(refused.msg).toContain('max_concurrent_jobs');
    const viaSocket = await h.ctl(['reload']);
    expect(viaSocket.code).toBe(1);
    expect(viaSocket.stderr + viaSocket.stdout).toContain('running config stays');
    expect(h.count('config_reload_refused')).toBe(2);
    expect(h.proc.exitCode).toBeNull();
    expect(existsSync(h.socket)).toBe(true);

    rewrite(h.configPath, { max_concurrent_jobs: 4, retry_policy: { enabled: true, max_retries: 5, retry_delay: 1, backoff_multiplier: 2 } });
    const ok = JSON.parse((await h.ctl(['reload', '--json'])).stdout);
    expect(ok).toMatchObject({ status: 'ok', restart_needed: [] });
    expect([...ok.applied].sort()).toEqual(['max_concurrent_jobs', 'retry_policy']);
  });

  it('the manifest workflow daemon reloads too', { timeout: 60_000 }, async () => {
    const root = join(fx.dir, 'wf');
    mkdirSync(root);
    const d = await startWorkflowDaemon(root, join(root, 'workflow'), join(root, 'out'), 1);
    try {
      rewrite(join(root, 'daemon.yaml'), { max_concurrent_jobs: 3, verbose: 2 });
      d.proc.kill('SIGHUP');
      const e = await d.waitForEvent('config_reloaded');
      expect([...(e.applied as string[])].sort()).toEqual(['max_concurrent_jobs', 'verbose']);
      const r = await runH2k(['ctl', '--output-dir', join(root, 'out'), 'reload'], { timeout: 10_000 });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('no live setting changed');
    } finally {
      expect((await d.stop()).code).toBe(0);
    }
  });
});
