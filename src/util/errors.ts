// Errors users can act on: a stable code, where it happened, and what to do.
export interface H2kErrorDetails {
  code: string;
  file?: string;
  offset?: number;
  hint?: string;
  cause?: unknown;
}

export class H2kError extends Error {
  readonly code: string;
  readonly file?: string;
  readonly offset?: number;
  readonly hint?: string;

  constructor(message: string, details: H2kErrorDetails) {
    super(message, details.cause !== undefined ? { cause: details.cause } : undefined);
    this.name = 'H2kError';
    this.code = details.code;
    this.file = details.file;
    this.offset = details.offset;
    this.hint = details.hint;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, file: this.file, offset: this.offset, hint: this.hint };
  }
}

/** Codes of errors that a retry may fix (I/O hiccups, full disk, timeouts), as opposed to bad input. */
// A full disk, a permission error or a corrupt image stays so however often it is retried
// (hyper2kvm retries neither): those go to .errors/ at once for an operator to act on.
// E_QUEUE_UNREACHABLE: a cluster's database away (restart, network cut) during a job.
export const TRANSIENT_CODES = new Set(['E_IO', 'E_TIMEOUT', 'E_WORKER', 'E_QUEUE_UNREACHABLE']);

/** Anything thrown (native error object, H2kError, Error) -> H2kError with a code. */
export function toH2kError(err: unknown): H2kError {
  if (err instanceof H2kError) return err;
  if (err && typeof err === 'object') {
    const e = err as { message?: unknown; code?: unknown; file?: unknown; offset?: unknown; hint?: unknown };
    const code = typeof e.code === 'string' && e.code.startsWith('E_') ? e.code : mapNodeCode(e.code);
    return new H2kError(typeof e.message === 'string' ? e.message : String(err), {
      code,
      file: typeof e.file === 'string' && e.file ? e.file : undefined,
      offset: typeof e.offset === 'number' && e.offset >= 0 ? e.offset : undefined,
      hint: typeof e.hint === 'string' && e.hint ? e.hint : undefined,
      cause: err,
    });
  }
  return new H2kError(String(err), { code: 'E_INTERNAL' });
}

function mapNodeCode(code: unknown): string {
  switch (code) {
    case 'ENOENT': return 'E_NOT_FOUND';
    case 'EACCES':
    case 'EPERM': return 'E_PERMISSION';
    case 'ENOSPC':
    case 'EDQUOT': return 'E_NO_SPACE';
    case 'EEXIST': return 'E_OUTPUT_EXISTS';
    case 'ETIMEDOUT': return 'E_TIMEOUT';
    case 'EIO': return 'E_IO';
    default: return 'E_INTERNAL';
  }
}
