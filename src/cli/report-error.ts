// Prints an error the way users can act on it (what, where, what to do) and sets the exit code.
import { toH2kError } from '../util/errors.js';
import { exitCodeFor } from './exit-codes.js';

export function formatError(err: unknown): string {
  const e = toH2kError(err);
  const where = e.file ? `\n  file: ${e.file}${e.offset !== undefined ? ` (byte offset ${e.offset})` : ''}` : '';
  const hint = e.hint ? `\n  hint: ${e.hint}` : '';
  return `h2k: error [${e.code}]: ${e.message}${where}${hint}`;
}

/** Reports and returns the exit code; with json the error goes to stdout as {"error": {...}}. */
export function reportError(err: unknown, json = false): number {
  const e = toH2kError(err);
  if (json) process.stdout.write(JSON.stringify({ error: e.toJSON() }, null, 2) + '\n');
  else process.stderr.write(formatError(e) + '\n');
  if (process.env.H2K_DEBUG && e.stack) process.stderr.write(e.stack + '\n');
  return exitCodeFor(e.code);
}
