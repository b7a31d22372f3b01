// Control socket protocol: newline-delimited JSON. Request {"command":"stats"} (a bare word line
// is accepted too); reply {"status":"ok"|"error", "message"?, ...} on one line. hyper2kvm's
// client sends the same request without the newline and reads a single reply: the server
// answers a request that is complete on its own (a JSON object, or a known command word).
// hyper2kvm's six, then h2k's own
export const CONTROL_COMMANDS = ['status', 'stats', 'pause', 'resume', 'drain', 'stop', 'reload'] as const;
export type ControlCommand = (typeof CONTROL_COMMANDS)[number];

export interface ControlReply {
  status: 'ok' | 'error';
  message?: string;
  [key: string]: unknown;
}

export const MAX_CONTROL_LINE = 64 * 1024;

export function parseControlLine(line: string): string {
  const text = line.trim();
  if (text.startsWith('{')) {
    try {
      const req = JSON.parse(text) as { command?: unknown };
      return typeof req.command === 'string' ? req.command : '';
    } catch {
      return '';
    }
  }
  return text;
}

export function isControlCommand(c: string): c is ControlCommand {
  return (CONTROL_COMMANDS as readonly string[]).includes(c);
}

/** Text that already is a whole request without a newline: a JSON object, or a command word
 * (no command is a prefix of another, so a known word cannot still be growing). */
export function isCompleteRequest(text: string): boolean {
  const t = text.trim();
  if (isControlCommand(t)) return true;
  if (!t.startsWith('{')) return false;
  try {
    JSON.parse(t);
    return true;
  } catch {
    return false;
  }
}

/** hyper2kvm's client reads its reply with one recv(4096). */
export const SINGLE_RECV_BYTES = 4096;

/**
 * A reply for hyper2kvm's client: if the stats would not fit its single read, the oldest
 * recent_completed entries are left out until they do (every other field stays; the full list
 * is in stats.json and `h2k ctl stats --json`).
 */
export function fitSingleRecv(reply: ControlReply): string {
  let text = JSON.stringify(reply);
  const stats = reply.stats as { recent_completed?: unknown[] } | undefined;
  if (Buffer.byteLength(text) < SINGLE_RECV_BYTES || !Array.isArray(stats?.recent_completed)) return text;
  const recent = [...stats.recent_completed];
  while (recent.length > 0 && Buffer.byteLength(text) >= SINGLE_RECV_BYTES) {
    recent.shift();
    text = JSON.stringify({ ...reply, stats: { ...stats, recent_completed: recent } });
  }
  return text;
}
