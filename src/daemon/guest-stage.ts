// The guest fixes a daemon config asks for (guestFixRequest: a guest-fix key set in the file),
// applied to a job's boot disk after conversion by the one fix stage (workflow/stages/fix.ts),
// with the daemon's report, log events and messages. A disk with no OS (a data disk) is converted
// with a warning; a requested fix that fails, or a guest h2k cannot fix (Windows), fails the job.
import { accessSync, constants } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import type { DaemonConfig } from '../config/daemon-schema.js';
import { guestFixOptions, guestFixRequest } from '../config/guest-output-schema.js';
import { normalizeFixOptions } from '../guest/fix-options.js';
import type { FixResult, GuestChange } from '../guest/types.js';
import type { RegistryChange } from '../guest/windows/registry.js';
import { fixGuest } from '../workflow/stages/fix.js';
import { H2kError } from '../util/errors.js';
import type { Logger } from '../service/logger.js';

export const NO_OS_WARNING = 'no guest OS found: no fixes applied';
export const ALL_OFF_WARNING = 'every guest fix is turned off in the config: the guest was not opened';

export interface GuestFixReport {
  image: string;
  /** the config keys that asked for the fixes */
  requested_by: string[];
  os: FixResult['os'] | null;
  /** every change as fixImage records it: file, before, after, kind */
  changes: GuestChange[];
  /** Windows guests: every registry value set (hive, key, value, before, after) */
  registry_changes?: RegistryChange[];
  warnings: string[];
  accel?: string;
  duration_seconds: number;
}

/**
 * At start, when the config asks for fixes: guestfish must be installed, or every job would be
 * converted, fail its fix and land in .errors/. Refusing to start says it once, up front.
 */
export function assertGuestToolsForFixes(cfg: DaemonConfig, path = process.env.PATH ?? ''): void {
  const keys = guestFixRequest(cfg);
  if (keys.length === 0) return;
  const found = path.split(delimiter).some((dir) => {
    try {
      accessSync(join(dir || '.', 'guestfish'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!found)
    throw new H2kError(`guest fixes are asked for (${keys.join(', ')}) but guestfish is not installed, so every job would fail its fixes`, {
      code: 'E_GUEST_TOOLS_MISSING',
      hint: 'install libguestfs-tools (scripts/setup-system.sh does), or remove the guest-fix keys from the config to convert without fixes',
    });
}

/** Fixes `image` in place when the config asks for fixes; undefined when it does not. */
export async function fixBootDisk(cfg: DaemonConfig, image: string, signal: AbortSignal, log: Logger): Promise<GuestFixReport | undefined> {
  const keys = guestFixRequest(cfg);
  if (keys.length === 0) return undefined;
  const options = guestFixOptions(cfg);
  const started = Date.now();
  const report = (r: Partial<GuestFixReport>): GuestFixReport => ({
    image, requested_by: keys, os: null, changes: [], warnings: [], duration_seconds: Math.round((Date.now() - started) / 10) / 100, ...r,
  });
  const o = normalizeFixOptions(options);
  // win_virtio still needs the guest opened: a Windows guest without drivers must fail, not pass unfixed
  const anything = o.fstab !== 'noop' || o.grub || o.initramfs || o.network !== 'none' || o.removeVmwareTools || keys.some((k) => k.startsWith('win_') || k.startsWith('virtio_'));
  if (!anything) return report({ warnings: [ALL_OFF_WARNING] });

  log.info('guest_fix_started', `Fixing guest: ${image} (asked for by ${keys.join(', ')})`, { file: image, keys });
  const result = await fixGuest(image, {
    ...options, dryRun: false, signal, log: (line) => log.info('guest_appliance', line, { file: image }),
    allowNoOs: true,
    explain: (e) => explain(e, image),
    failed: (r) => new H2kError(`guest fixes of ${basename(image)} failed: ${r.failed.join('; ')}`, {
      code: 'E_GUEST_FIX_FAILED', file: image,
      hint: 'the converted output was removed; convert with h2k convert and run h2k fix on it to see every step, or drop it into a daemon whose config sets no guest-fix keys',
    }),
  });
  if (!result) {
    log.warn('guest_no_os', `${basename(image)}: ${NO_OS_WARNING} (a data disk, or an encrypted or unsupported root filesystem); converted as is`, { file: image });
    return report({ warnings: [NO_OS_WARNING] });
  }
  return report({ os: result.os, changes: result.changes, ...(result.registry ? { registry_changes: result.registry } : {}), warnings: result.warnings, accel: result.accel });
}

function explain(e: H2kError, image: string): H2kError {
  if (e.code === 'E_CANCELLED') return e;
  return new H2kError(`guest fix of ${basename(image)} failed: ${e.message}`, {
    code: e.code, file: e.file ?? image, cause: e,
    hint: e.hint ?? 'the converted output was removed; run h2k fix on a converted copy to see every step',
  });
}
