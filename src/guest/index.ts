// Guest fixes through libguestfs: the API the CLI and the manifest workflow call.
import { withGuestSession } from './guestfish-session.js';
import { inspectSession } from './inspect.js';
import type { GuestInspection } from './types.js';

export { fixImage } from './fix-image.js';
export { bootTest, type BootTestOptions } from './boot-test.js';
export type { FixImageOptions } from './fix-options.js';
export type { BootTestResult, FixResult, GuestChange, GuestInspection } from './types.js';

/** Inspects an image read-only in one appliance session. */
export function inspectImage(path: string, options: { signal?: AbortSignal; log?: (line: string) => void } = {}): Promise<GuestInspection> {
  return withGuestSession(path, { readonly: true, signal: options.signal, log: options.log }, (s) => inspectSession(s, true));
}
