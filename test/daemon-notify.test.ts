// Notifications: each webhook type against a loopback HTTP server, retries on a failing
// endpoint, the three events from the real daemon, and mail through a loopback SMTP server
// with STARTTLS + AUTH (smtp-server, certificate made by openssl at test time).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { Notifier } from '../src/daemon/notify/notifier.js';
import { notificationsSchema } from '../src/config/daemon-schema.js';
import { createLogger } from '../src/service/logger.js';
import type { DaemonEvent } from '../src/daemon/notify/events.js';
import { makeSeededRaw } from './helpers/fixtures.js';
import { daemonTestScope, waitFor } from './helpers/daemon-harness.js';

const { fx: tmp, start: startTracked } = daemonTestScope('daemon-notify');

interface Hook {
  server: Server;
  url: string;
  bodies: { path: string; body: any }[];
  /** answer with these statuses first, then 200 */
  failFirst: number[];
}

async function startHook(): Promise<Hook> {
  const hook: Hook = { server: undefined as unknown as Server, url: '', bodies: [], failFirst: [] };
  hook.server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      const status = hook.failFirst.shift() ?? 200;
      if (status === 200) hook.bodies.push({ path: req.url ?? '', body: JSON.parse(data) });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => hook.server.listen(0, '127.0.0.1', () => r()));
  const port = (hook.server.address() as { port: number }).port;
  hook.url = `http://127.0.0.1:${port}/hooks/T000/SECRET-TOKEN-123`;
  return hook;
}

const events: DaemonEvent[] = [
  { event: 'conversion_success', filename: 'vm1.vmdk', duration_seconds: 12.5, output_path: '/out/2026-01-17/vm1', timestamp: '2026-01-17T10:30:00Z' },
  { event: 'conversion_failure', filename: 'vm2.vmdk', error: 'bad magic', retry_count: 2, timestamp: '2026-01-17T11:00:00Z' },
  { event: 'daemon_stalled', queue_depth: 5, idle_minutes: 75, last_activity: '2026-01-17T09:45:00Z', timestamp: '2026-01-17T11:00:00Z' },
];

function notifier(extra: Record<string, unknown>, lines: string[]) {
  const cfg = notificationsSchema.parse({ enabled: true, on_success: true, on_failure: true, on_stalled: true, retry_delay_seconds: 0.05, ...extra });
  const secrets = [cfg.webhook_url ?? '', cfg.webhook_url ? new URL(cfg.webhook_url).pathname : '', cfg.email_password ?? ''];
  return new Notifier(cfg, createLogger({ format: 'json', write: (l) => lines.push(l), secrets }));
}

describe('webhook notifications', () => {
  let hook: Hook;
  beforeAll(async () => {
    hook = await startHook();
  });
  afterAll(() => hook.server.close());

  it('slack gets {text}, discord gets {content}, generic gets the raw event', async () => {
    for (const type of ['slack', 'discord', 'generic'] as const) {
      hook.bodies.length = 0;
      const lines: string[] = [];
      const n = notifier({ webhook_url: hook.url, webhook_type: type }, lines);
      for (const e of events) n.notify(e);
      await n.flush();
      expect(hook.bodies).toHaveLength(3);
      for (const [i, { body, path }] of hook.bodies.entries()) {
        expect(path).toBe('/hooks/T000/SECRET-TOKEN-123');
        if (type === 'slack') expect(Object.keys(body)).toEqual(['text']);
        if (type === 'discord') expect(Object.keys(body)).toEqual(['content']);
        if (type === 'generic') expect(body).toEqual(events[i]);
      }
      if (type !== 'generic') {
        const texts = hook.bodies.map(({ body }) => body.text ?? body.content);
        expect(texts[0]).toContain('vm1.vmdk');
        expect(texts[1]).toContain('bad magic');
        expect(texts[2]).toContain('5 job(s) queued');
      }
      expect(lines.join('')).not.toContain('SECRET-TOKEN-123');
      n.close();
    }
  });

  it('retries a failing endpoint briefly, and gives up without throwing', async () => {
    hook.bodies.length = 0;
    hook.failFirst = [500, 503];
    const lines: string[] = [];
    const n = notifier({ webhook_url: hook.url, webhook_type: 'generic', retry_attempts: 3 }, lines);
    n.notify(events[1]);
    await n.flush();
    expect(hook.bodies).toHaveLength(1);
    expect(lines.filter((l) => l.includes('"notification_retry"'))).toHaveLength(2);

    hook.failFirst = [500, 500, 500];
    const lines2: string[] = [];
    const n2 = notifier({ webhook_url: hook.url, webhook_type: 'generic', retry_attempts: 3 }, lines2);
    n2.notify(events[1]);
    await n2.flush();
    expect(lines2.some((l) => l.includes('"notification_failed"'))).toBe(true);
    // A dead endpoint (nothing listening) is also just logged.
    const lines3: string[] = [];
    const n3 = notifier({ webhook_url: 'http://127.0.0.1:9/x/SECRET-TOKEN-123', retry_attempts: 2 }, lines3);
    n3.notify(events[0]);
    await n3.flush();
    expect(lines3.some((l) => l.includes('"notification_failed"'))).toBe(true);
    expect(lines.concat(lines2, lines3).join('')).not.toContain('SECRET-TOKEN-123');
  });

  it('the daemon sends conversion_success, conversion_failure and daemon_stalled', async () => {
    hook.bodies.length = 0;
    const raw = makeSeededRaw(join(tmp.dir, 'ok.raw'), 2, 5);
    const h = await startTracked({
      config: {
        notifications: {
          enabled: true, on_success: true, on_failure: true, on_stalled: true,
          stall_threshold_minutes: 0.02, webhook_url: hook.url, webhook_type: 'generic',
        },
      },
    });
    copyFileSync(raw, join(h.watchDir, 'good.img'));
    writeFileSync(join(h.watchDir, 'bad.vmdk'), 'not a disk\n');
    await waitFor('two webhooks', () => hook.bodies.length >= 2, 60_000);
    const byEvent = new Map(hook.bodies.map(({ body }) => [body.event, body]));
    const ok = byEvent.get('conversion_success');
    expect(Object.keys(ok).sort()).toEqual(['duration_seconds', 'event', 'filename', 'output_path', 'timestamp']);
    expect(ok.filename).toBe('good.img');
    expect(ok.output_path).toMatch(/\/out\/\d{4}-\d\d-\d\d\/good$/);
    const bad = byEvent.get('conversion_failure');
    expect(bad).toMatchObject({ event: 'conversion_failure', filename: 'bad.vmdk', retry_count: 0 });
    expect(bad.error).toMatch(/VMDK/i);
    expect(typeof bad.timestamp).toBe('string');

    // Paused with work waiting and no activity for > 1.2 s: stalled.
    await h.ctl(['pause']);
    copyFileSync(raw, join(h.watchDir, 'waiting.img'));
    await waitFor('stalled webhook', () => hook.bodies.find(({ body }) => body.event === 'daemon_stalled'), 60_000);
    const stalled = hook.bodies.find(({ body }) => body.event === 'daemon_stalled')!.body;
    expect(Object.keys(stalled).sort()).toEqual(['event', 'idle_minutes', 'last_activity', 'queue_depth', 'timestamp']);
    expect(stalled.queue_depth).toBe(1);
    expect(stalled.idle_minutes).toBeGreaterThanOrEqual(0.02);
    expect(h.stderr()).not.toContain('SECRET-TOKEN-123');
  });
});

describe('email notifications', () => {
  it('delivers through STARTTLS with AUTH, never logging the password', async () => {
    const key = join(tmp.dir, 'smtp.key');
    const cert = join(tmp.dir, 'smtp.crt');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const mails: { from: string; to: string[]; secure: boolean; user?: string; text: string }[] = [];
    const auths: { user: string; pass: string; secure: boolean }[] = [];
    const smtp = new SMTPServer({
      key: readFileSync(key),
      cert: readFileSync(cert),
      authMethods: ['PLAIN', 'LOGIN'],
      logger: false,
      onAuth(auth, session, cb) {
        auths.push({ user: auth.username ?? '', pass: auth.password ?? '', secure: session.secure });
        if (auth.username === 'h2k-bot' && auth.password === 'S3cret-Pass!') cb(null, { user: 'h2k-bot' });
        else cb(new Error('Invalid username or password'));
      },
      onData(stream, session, cb) {
        let text = '';
        stream.on('data', (c) => (text += c));
        stream.on('end', () => {
          mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            secure: session.secure,
            user: session.user as string | undefined,
            text,
          });
          cb();
        });
      },
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
    const port = (smtp.server.address() as { port: number }).port;
    try {
      const h = await startTracked({
        config: {
          notifications: {
            enabled: true, on_failure: true, on_success: false,
            email_enabled: true, email_smtp_host: '127.0.0.1', email_smtp_port: port, email_starttls: true,
            email_tls_ca_file: cert, email_from: 'h2k@example.test', email_to: ['ops@example.test', 'oncall@example.test'],
            email_username: 'h2k-bot', email_password: 'S3cret-Pass!', retry_delay_seconds: 0.1,
          },
        },
      });
      writeFileSync(join(h.watchDir, 'broken.vmdk'), 'garbage\n');
      await waitFor('mail', () => mails.length === 1, 60_000);
      const m = mails[0];
      expect(m.secure).toBe(true);
      expect(m.user).toBe('h2k-bot');
      expect(m.from).toBe('h2k@example.test');
      expect(m.to).toEqual(['ops@example.test', 'oncall@example.test']);
      expect(m.text).toContain('broken.vmdk');
      expect(m.text).toContain('conversion_failure');
      expect(auths.every((a) => a.secure)).toBe(true);
      await h.waitForEvent('notification_sent');
      await h.shutdown();
      expect(h.stderr()).not.toContain('S3cret-Pass!');
      expect(readFileSync(join(h.outputDir, '.daemon', 'stats.json'), 'utf8')).not.toContain('S3cret-Pass!');
    } finally {
      await new Promise<void>((r) => smtp.close(() => r()));
    }
  });
});
