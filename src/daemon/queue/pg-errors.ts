// Driver errors -> coded H2kErrors whose text never holds the database password:
//   E_QUEUE_UNREACHABLE  no connection (refused, no socket, timeout, server shutting down or
//                        restarting, connection cut, no answer within the query timeout):
//                        transient, the caller retries
//   E_QUEUE_AUTH         the server refused the user or password
//   E_QUEUE              any other database error
import { H2kError } from '../../util/errors.js';
import type { Redactor } from '../../util/redact.js';

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EPIPE']);
const UNREACHABLE_MESSAGE = /query read timeout|connection terminated|timeout exceeded when trying to connect|connection timeout|Client has encountered a connection error|not queryable/i;

export function isUnreachable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  // SQLSTATE class 08 (connection exception), 57P01..57P03 (shutdown, crash shutdown, cannot connect now)
  return NETWORK_CODES.has(code) || code.startsWith('08') || /^57P0[1-3]$/.test(code) || UNREACHABLE_MESSAGE.test(String(e?.message ?? ''));
}

export function queueError(err: unknown, redact: Redactor, shownUrl: string): H2kError {
  if (err instanceof H2kError) return new H2kError(redact(err.message), { code: err.code, hint: err.hint && redact(err.hint) });
  const e = err as { code?: unknown; message?: unknown };
  const detail = redact(String(e?.message ?? err));
  const code = typeof e?.code === 'string' ? e.code : '';
  if (isUnreachable(err))
    return new H2kError(`queue database ${shownUrl} unreachable: ${detail}`, {
      code: 'E_QUEUE_UNREACHABLE',
      hint: 'check that PostgreSQL runs and that queue_url names its host (or socket directory), port and database',
    });
  if (code === '28P01' || code === '28000' || code === '3D000')
    return new H2kError(`queue database ${shownUrl} refused the connection: ${detail}`, {
      code: 'E_QUEUE_AUTH',
      hint: 'check the user, password and database name in queue_url and the server\'s pg_hba.conf',
    });
  return new H2kError(`queue database ${shownUrl}: ${detail}`, { code: 'E_QUEUE' });
}
