// Control socket protocol: newline-delimited JSON. Request {"command":"stats"} (a bare word line
// is accepted too); reply {"status":"ok"|"error", "message"?, ...} on one line.
export const CONTROL_COMMANDS = ['status', 'stats', 'pause', 'resume', 'drain', 'stop'] as const;
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
