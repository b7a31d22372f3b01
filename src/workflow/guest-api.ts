// The guest-fix module (libguestfs inspection, fixes, boot test), loaded only when a stage needs it.
import { H2kError } from '../util/errors.js';
import { importOptional } from './optional-module.js';

export interface GuestChange {
  file: string;
  before?: string;
  after?: string;
  kind: string;
}

export interface GuestFixOptions {
  fstab: { enabled: boolean; mode: string };
  grub: { enabled: boolean };
  initramfs: { enabled: boolean; regenerate: boolean };
  network: { enabled: boolean; fixLevel: string };
  removeVmwareTools: boolean;
  dryRun: boolean;
  signal?: AbortSignal;
}

export interface GuestApi {
  inspectImage?: (path: string, options: { signal?: AbortSignal }) => Promise<unknown>;
  fixImage?: (path: string, options: GuestFixOptions) => Promise<{ changes: GuestChange[]; warnings: string[] }>;
  bootTest?: (
    path: string,
    options: { timeoutSeconds: number; consoleLog?: string; signal?: AbortSignal },
  ) => Promise<{ passed: boolean; marker?: string; seconds: number; consoleLog?: string; accel?: string }>;
}

let cached: Promise<GuestApi> | undefined;

export function loadGuestApi(): Promise<GuestApi> {
  cached ??= importOptional('../guest/index.js').then((m) => (m ?? {}) as GuestApi);
  return cached;
}

export function guestUnsupported(what: string): H2kError {
  return new H2kError(`${what} is not supported yet: this build has no guest-fix module (libguestfs)`, {
    code: 'E_UNSUPPORTED',
    hint: 'remove the stage from the manifest or set enabled: false until guest fixes ship',
  });
}
