// Sends events to the configured webhook and mail server. A failing endpoint is retried a few
// times with a short backoff and then logged; it never throws into the daemon. Secrets (webhook
// URL path, SMTP password) never reach the log.
import type { Transporter } from 'nodemailer';
import type { NotificationsConfig } from '../../config/daemon-schema.js';
import type { Logger } from '../../service/logger.js';
import type { DaemonEvent } from './events.js';
import { createMailTransport, mailFor } from './email.js';
import { postWebhook, webhookHost } from './webhook.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Notifier {
  private readonly pending = new Set<Promise<void>>();
  private mail?: Transporter;

  constructor(private cfg: NotificationsConfig, private readonly log: Logger) {
    this.reconfigure(cfg);
  }

  /** New settings for the next events (config reload); deliveries in flight finish on the old ones. */
  reconfigure(cfg: NotificationsConfig): void {
    this.mail?.close();
    this.cfg = cfg;
    this.mail = cfg.enabled && cfg.email_enabled ? createMailTransport(cfg) : undefined;
  }

  wants(event: DaemonEvent['event']): boolean {
    if (!this.cfg.enabled) return false;
    if (event === 'conversion_success') return this.cfg.on_success;
    if (event === 'conversion_failure') return this.cfg.on_failure;
    return this.cfg.on_stalled;
  }

  /** Fire and forget; flush() waits for what is in flight. */
  notify(event: DaemonEvent): void {
    if (!this.wants(event.event)) return;
    const p = this.deliver(event).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private async deliver(event: DaemonEvent): Promise<void> {
    const tasks: Promise<void>[] = [];
    const url = this.cfg.webhook_url;
    if (url)
      tasks.push(
        this.withRetry(`webhook ${this.cfg.webhook_type} to ${webhookHost(url)}`, event, () =>
          postWebhook(url, this.cfg.webhook_type, event, this.cfg.webhook_timeout_seconds * 1000),
        ),
      );
    const mail = this.mail;
    if (mail)
      tasks.push(
        this.withRetry(`email via ${this.cfg.email_smtp_host}:${this.cfg.email_smtp_port}`, event, async () => {
          await mail.sendMail(mailFor(this.cfg, event));
        }),
      );
    await Promise.all(tasks);
  }

  private async withRetry(target: string, event: DaemonEvent, send: () => Promise<void>): Promise<void> {
    const attempts = this.cfg.retry_attempts;
    for (let i = 1; i <= attempts; i++) {
      try {
        await send();
        this.log.info('notification_sent', `Notification ${event.event} sent: ${target}`, { target, notification: event.event });
        return;
      } catch (err) {
        const why = (err as Error).message;
        if (i === attempts) {
          this.log.error('notification_failed', `Notification ${event.event} failed after ${attempts} attempts: ${target}: ${why}`, {
            target,
            notification: event.event,
          });
          return;
        }
        this.log.warn('notification_retry', `Notification ${event.event} failed (${target}: ${why}); retrying`, { target, attempt: i });
        await sleep(this.cfg.retry_delay_seconds * 1000 * 2 ** (i - 1));
      }
    }
  }

  /** Waits for deliveries in flight, at most `timeoutMs`. */
  async flush(timeoutMs = 10_000): Promise<void> {
    if (this.pending.size === 0) return;
    await Promise.race([Promise.allSettled([...this.pending]), sleep(timeoutMs)]);
  }

  close(): void {
    this.mail?.close();
  }
}
