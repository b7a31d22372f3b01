// SMTP notifications through nodemailer: STARTTLS required by default (implicit TLS on 465),
// optional AUTH, a private CA file for self-hosted relays.
import { readFileSync } from 'node:fs';
import nodemailer, { type Transporter } from 'nodemailer';
import type { NotificationsConfig } from '../../config/daemon-schema.js';
import { H2kError } from '../../util/errors.js';
import type { DaemonEvent } from './events.js';
import { eventSummary } from './events.js';

export function createMailTransport(cfg: NotificationsConfig): Transporter {
  if (!cfg.email_smtp_host || !cfg.email_from || !cfg.email_to)
    throw new H2kError('email notifications need email_smtp_host, email_from and email_to', {
      code: 'E_CONFIG',
      hint: 'set them under notifications: or set email_enabled: false',
    });
  const secure = cfg.email_secure ?? cfg.email_smtp_port === 465;
  let ca: Buffer | undefined;
  if (cfg.email_tls_ca_file) {
    try {
      ca = readFileSync(cfg.email_tls_ca_file);
    } catch (err) {
      throw new H2kError(`cannot read email_tls_ca_file: ${(err as Error).message}`, { code: 'E_CONFIG', file: cfg.email_tls_ca_file });
    }
  }
  const timeout = Math.round(cfg.email_timeout_seconds * 1000);
  return nodemailer.createTransport({
    host: cfg.email_smtp_host,
    port: cfg.email_smtp_port,
    secure,
    requireTLS: !secure && cfg.email_starttls,
    ignoreTLS: !secure && !cfg.email_starttls,
    auth: cfg.email_username ? { user: cfg.email_username, pass: cfg.email_password ?? '' } : undefined,
    tls: { rejectUnauthorized: cfg.email_tls_reject_unauthorized, ...(ca ? { ca } : {}) },
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    logger: false,
    debug: false,
  });
}

export function mailFor(cfg: NotificationsConfig, event: DaemonEvent): { from: string; to: string; subject: string; text: string } {
  const to = Array.isArray(cfg.email_to) ? cfg.email_to.join(', ') : (cfg.email_to ?? '');
  const lines = Object.entries(event).map(([k, v]) => `${k}: ${String(v)}`);
  return {
    from: cfg.email_from ?? '',
    to,
    subject: eventSummary(event).slice(0, 200),
    text: `${eventSummary(event)}\n\n${lines.join('\n')}\n\n${JSON.stringify(event, null, 2)}\n`,
  };
}
