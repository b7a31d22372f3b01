// One line per event, human ("2026-01-17T10:00:00.000Z INFO  File stable: vm.vmdk (1.0 GiB)")
// or JSON ({"time","level","event","msg",...fields}). Secrets are redacted before anything is written.
// When stderr is the journal, each line there starts with its syslog priority (<3> ... <7>).
import { fstatSync, openSync, writeSync } from 'node:fs';
import { H2kError } from '../util/errors.js';
import { urlSecrets } from '../util/redact.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'human' | 'json';

const LEVEL_RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };
/** sd-daemon(3) prefixes: journald reads them as the line's priority and strips them */
const SYSLOG_PRIORITY: Record<LogLevel, string> = { error: '<3>', warn: '<4>', info: '<6>', debug: '<7>' };

/** True when stderr is a journald stream: $JOURNAL_STREAM ("dev:ino") names fd 2 (systemd.exec(5)). */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!m) return false;
  try {
    const st = fstatSync(2, { bigint: true });
    return st.dev === BigInt(m[1]) && st.ino === BigInt(m[2]);
  } catch {
    return false;
  }
}
const SECRET_KEY = /pass(word)?|secret|token|auth|webhook_url|api_key/i;

export interface Logger {
  error(event: string, msg: string, fields?: Record<string, unknown>): void;
  warn(event: string, msg: string, fields?: Record<string, unknown>): void;
  info(event: string, msg: string, fields?: Record<string, unknown>): void;
  debug(event: string, msg: string, fields?: Record<string, unknown>): void;
  /** a reloaded config's level and secrets (secrets only ever get added) */
  reconfigure?(o: { verbose?: number; secrets?: string[] }): void;
}

export interface LoggerOptions {
  format: LogFormat;
  /** hyper2kvm verbose: 0 errors+warnings, 1 info, 2+ debug */
  verbose?: number;
  file?: string;
  /** where lines go; stderr by default */
  write?: (line: string) => void;
  /** prefix the lines sent to `write`/stderr with their syslog priority; by default when stderr is the journal */
  journal?: boolean;
  /** strings that must never appear in a log line (passwords, webhook URLs) */
  secrets?: string[];
}

/** Replaces secret-looking fields and known secret strings. */
export function redact(value: unknown, secrets: string[] = []): unknown {
  if (typeof value === 'string') {
    let s = value;
    for (const secret of secrets) if (secret.length >= 4) s = s.split(secret).join('***');
    return s;
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, secrets));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) && v ? '***' : redact(v, secrets);
    return out;
  }
  return value;
}

/** Opens the log file for appending; one that cannot be written is a config error at start (exit 2). */
function openLogFile(file: string): number {
  try {
    return openSync(file, 'a', 0o640);
  } catch (err) {
    throw new H2kError(`cannot open log_file ${file} for writing: ${(err as Error).message}`, {
      code: 'E_CONFIG',
      file,
      hint: 'create its directory, or point log_file at a file the daemon\'s user may write',
      cause: err,
    });
  }
}

/** The strings of a daemon config that must never be logged: SMTP password, webhook URL and its path. */
export function configSecrets(cfg: { queue_url?: string; notifications?: { email_password?: string; webhook_url?: string } }): string[] {
  const n = cfg.notifications ?? {};
  return [n.email_password, n.webhook_url, n.webhook_url ? new URL(n.webhook_url).pathname : undefined, ...urlSecrets(cfg.queue_url)].filter(
    (s): s is string => typeof s === 'string' && s.length > 1,
  );
}

export function createLogger(options: LoggerOptions): Logger {
  const rankOf = (v: number | undefined) => (v === undefined ? 2 : v <= 0 ? 1 : v === 1 ? 2 : 3);
  let maxRank = rankOf(options.verbose);
  let secrets = (options.secrets ?? []).filter((s) => s.length >= 4);
  const sink = options.write ?? ((line: string) => process.stderr.write(line));
  const journal = options.journal ?? (!options.write && stderrIsJournal());
  const fd = options.file === undefined ? undefined : openLogFile(options.file);
  const emit = (level: LogLevel, event: string, msg: string, fields?: Record<string, unknown>) => {
    if (LEVEL_RANK[level] > maxRank) return;
    const time = new Date().toISOString();
    const safeMsg = redact(msg.replace(/[\r\n]+/g, ' '), secrets) as string;
    const safeFields = fields ? (redact(fields, secrets) as Record<string, unknown>) : undefined;
    const line =
      options.format === 'json'
        ? JSON.stringify({ time, level, event, msg: safeMsg, ...safeFields }) + '\n'
        : `${time} ${level.toUpperCase().padEnd(5)} ${safeMsg}\n`;
    sink(journal ? SYSLOG_PRIORITY[level] + line : line);
    if (fd !== undefined) {
      try {
        writeSync(fd, line);
      } catch {
        // a log file that breaks later (disk full) must not stop the daemon; stderr still has the line
      }
    }
  };
  return {
    error: (e, m, f) => emit('error', e, m, f),
    warn: (e, m, f) => emit('warn', e, m, f),
    info: (e, m, f) => emit('info', e, m, f),
    debug: (e, m, f) => emit('debug', e, m, f),
    reconfigure: (o) => {
      maxRank = rankOf(o.verbose);
      secrets = [...new Set([...secrets, ...(o.secrets ?? []).filter((s) => s.length >= 4)])];
    },
  };
}
