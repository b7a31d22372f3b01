// fixImage options: the CLI's flat form and the manifest's {enabled, mode} form, one normalized shape.
import { H2kError } from '../util/errors.js';
import type { FstabMode, NetworkLevel } from './types.js';

type Toggle = boolean | { enabled?: boolean };

export interface FixImageOptions {
  fstab?: FstabMode | { enabled?: boolean; mode?: string };
  grub?: Toggle;
  initramfs?: boolean | { enabled?: boolean; regenerate?: boolean };
  network?: NetworkLevel | { enabled?: boolean; fixLevel?: string };
  /** undefined: each OS's default (Linux keeps the tools, Windows removes them on first boot) */
  removeVmwareTools?: boolean;
  /** Windows guests: the virtio-win ISO or a directory laid out like it. */
  virtioWin?: string;
  dryRun?: boolean;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface NormalizedFixOptions {
  fstab: FstabMode;
  grub: boolean;
  initramfs: boolean;
  regenerateInitramfs: boolean;
  network: NetworkLevel;
  removeVmwareTools: boolean;            // Linux: only when asked for (offline package removal is invasive)
  removeVmwareToolsOnWindows: boolean;   // Windows: unless refused (the first-boot msiexec is Windows' own uninstall)
  virtioWin?: string;
  dryRun: boolean;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

const FSTAB_MODES = new Set(['stabilize-all', 'bypath-only', 'noop']);
const NETWORK_LEVELS = new Set(['full', 'basic', 'none']);

function oneOf<T extends string>(value: string, allowed: Set<string>, what: string): T {
  if (!allowed.has(value))
    throw new H2kError(`invalid ${what}: ${value}`, { code: 'E_INVALID_ARGUMENT', hint: `use one of ${[...allowed].join(', ')}` });
  return value as T;
}

/** Defaults: everything on (stabilize-all, grub, initramfs, basic network), VMware tools kept on Linux, removed on Windows. */
export function normalizeFixOptions(o: FixImageOptions): NormalizedFixOptions {
  const fstab = typeof o.fstab === 'object'
    ? (o.fstab.enabled === false ? 'noop' : oneOf<FstabMode>(o.fstab.mode ?? 'stabilize-all', FSTAB_MODES, 'fstab mode'))
    : oneOf<FstabMode>(o.fstab ?? 'stabilize-all', FSTAB_MODES, 'fstab mode');
  const network = typeof o.network === 'object'
    ? (o.network.enabled === false ? 'none' : oneOf<NetworkLevel>(o.network.fixLevel ?? 'basic', NETWORK_LEVELS, 'network level'))
    : oneOf<NetworkLevel>(o.network ?? 'basic', NETWORK_LEVELS, 'network level');
  const toggle = (t: Toggle | undefined) => (typeof t === 'object' ? t.enabled !== false : t !== false);
  return {
    fstab,
    grub: toggle(o.grub),
    initramfs: toggle(o.initramfs),
    regenerateInitramfs: typeof o.initramfs === 'object' ? o.initramfs.regenerate !== false : true,
    network,
    removeVmwareTools: o.removeVmwareTools ?? false,
    removeVmwareToolsOnWindows: o.removeVmwareTools ?? true,
    virtioWin: o.virtioWin,
    dryRun: o.dryRun ?? false,
    signal: o.signal,
    log: o.log,
  };
}
