// Which config keys a running daemon takes on reload (SIGHUP, `h2k ctl reload`); every other key
// that changed is named in a "restart needed" warning and keeps its running value.
import { isDeepStrictEqual } from 'node:util';

export const RELOADABLE_KEYS = ['verbose', 'notifications', 'max_concurrent_jobs', 'retry_policy'] as const;

/** Bookkeeping of the loader, not a setting. */
const NOT_SETTINGS = new Set(['keys_set']);

export function changedKeys(before: Record<string, unknown>, after: Record<string, unknown>): { live: string[]; restart: string[] } {
  const live: string[] = [];
  const restart: string[] = [];
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (NOT_SETTINGS.has(k) || isDeepStrictEqual(before[k], after[k])) continue;
    ((RELOADABLE_KEYS as readonly string[]).includes(k) ? live : restart).push(k);
  }
  return { live, restart };
}
