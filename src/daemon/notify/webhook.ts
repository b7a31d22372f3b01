// Webhook payloads: Slack wants {text}, Discord {content}, generic receives the raw event.
import type { DaemonEvent } from './events.js';
import { eventSummary } from './events.js';

export type WebhookType = 'slack' | 'discord' | 'generic';

export function webhookPayload(type: WebhookType, event: DaemonEvent): unknown {
  switch (type) {
    case 'slack':
      return { text: eventSummary(event) };
    case 'discord':
      // Discord rejects content longer than 2000 characters.
      return { content: eventSummary(event).slice(0, 2000) };
    case 'generic':
      return event;
  }
}

/** POSTs the payload; throws on network errors and non-2xx answers. */
export async function postWebhook(url: string, type: WebhookType, event: DaemonEvent, timeoutMs: number): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'h2k-daemon' },
    body: JSON.stringify(webhookPayload(type, event)),
    signal: AbortSignal.timeout(timeoutMs),
  });
  // Drain the body so the connection is released.
  await res.arrayBuffer().catch(() => undefined);
  if (!res.ok) throw new Error(`webhook answered HTTP ${res.status}`);
}

/** host only: webhook URLs carry their secret in the path. */
export function webhookHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(invalid url)';
  }
}
