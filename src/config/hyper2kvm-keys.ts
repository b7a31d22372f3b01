// The one table of daemon config keys: every key of hyper2kvm's daemon-enhanced.yaml, the other
// keys hyper2kvm's daemon code reads, and h2k's own keys, each with what h2k does with it.
// The warnings at start and the README's key table are generated from it; a key the user sets
// that h2k does not act on always gets a warning, so nothing is dropped silently.
//
// When the daemon starts applying a key (e.g. the guest fixes), change its status here: its
// warning goes away with it.

export type KeyStatus =
  /** does what hyper2kvm does */
  | 'honoured'
  /** honoured, with a difference the note names */
  | 'differs'
  /** accepted so the config loads; not acted on; a warning at start when set */
  | 'ignored'
  /** some values are refused: at start (config error) or per job; the note says which */
  | 'refused'
  /** h2k's own key, not in hyper2kvm */
  | 'h2k';

/** Where hyper2kvm has the key: its daemon-enhanced.yaml example, or only its code. */
export type KeyOrigin = 'example' | 'code' | 'h2k';

export interface KeyRow {
  /** dotted for nested keys: retry_policy.max_retries */
  key: string;
  status: KeyStatus;
  origin: KeyOrigin;
  /** what h2k does with it */
  note: string;
  /** the reason in the warning at start, when shorter than the note */
  why?: string;
  /** the warning at start when the key is set to this value; default: every value of an
   *  'ignored' key, none for the others */
  warnIf?: (value: unknown) => boolean;
  /** refused at start (exit 2) when set to this value */
  refuseIf?: (value: unknown) => boolean;
  /** why, in that error */
  refusal?: string;
}

const isTrue = (v: unknown) => v === true;
const isFalse = (v: unknown) => v === false;

// hyper2kvm fixes every guest by default; h2k's daemon only when the file sets a guest-fix key
// (guestFixRequest): many dropped disks are data disks, and configs without them keep converting plainly.
const GUEST_FIX = 'setting it turns on the guest fixes of each job\'s boot disk, unset fix keys taking hyper2kvm\'s defaults (hyper2kvm: fixes on unless turned off; see "Guest fixes in the daemon")';
const DOMAIN_XML = 'with emit_domain_xml: true';
const WINDOWS = 'Windows guests get the virtio-win drivers of virtio_drivers_dir (the ISO or its extracted directory; a relative path is relative to the config file) as boot-start services plus a first-boot pnputil install (see "Windows guests"); win_virtio: true or virtio_drivers_dir turns the guest fixes on; a Windows job without virtio_drivers_dir fails (E_GUEST_WINDOWS_VIRTIO_WIN, outputs removed)';

const notify = (key: string, note = 'as in hyper2kvm'): KeyRow => ({ key: `notifications.${key}`, status: 'honoured', origin: 'example', note });
const h2kNotify = (key: string, note: string): KeyRow => ({ key: `notifications.${key}`, status: 'h2k', origin: 'h2k', note });

export const KEY_TABLE: readonly KeyRow[] = [
  // ---- hyper2kvm's daemon-enhanced.yaml, in its order
  { key: 'command', status: 'refused', origin: 'example', note: '`daemon` runs the daemon (`h2k --config file.yaml` reads it); any other command is refused (exit 2)', refuseIf: (v) => typeof v === 'string' && v.trim().toLowerCase() !== 'daemon', refusal: 'h2k daemon runs only command: daemon (for one disk: h2k convert <disk>, for an OVA/OVF: h2k ovf)' },
  { key: 'daemon', status: 'differs', origin: 'example', note: 'accepted; h2k always runs in the foreground (as under hyper2kvm\'s systemd unit)' },
  { key: 'watch_dir', status: 'honoured', origin: 'example', note: 'only its top level is watched; hidden entries are skipped' },
  { key: 'output_dir', status: 'honoured', origin: 'example', note: '{output_dir}/YYYY-MM-DD/<vm>/, state in {output_dir}/.daemon/' },
  { key: 'workdir', status: 'ignored', origin: 'example', note: 'h2k needs no work directory: it writes <output>.partial beside the output and renames it when complete', why: 'h2k needs no work directory' },
  { key: 'max_concurrent_jobs', status: 'honoured', origin: 'example', note: '1-64, default 3' },
  { key: 'file_stable_timeout', status: 'differs', origin: 'example', note: 'size and mtime must hold still this many seconds (hyper2kvm: at most this many 1 s polls, three equal sizes in a row)' },
  { key: 'retry_policy', status: 'honoured', origin: 'example', note: 'transient errors only; a corrupt or unsupported image is never retried' },
  { key: 'retry_policy.enabled', status: 'differs', origin: 'example', note: 'false: no retries (hyper2kvm still retried with its defaults)' },
  { key: 'retry_policy.max_retries', status: 'honoured', origin: 'example', note: '0-100, default 3' },
  { key: 'retry_policy.retry_delay', status: 'honoured', origin: 'example', note: 'seconds before the first retry, default 300' },
  { key: 'retry_policy.backoff_multiplier', status: 'honoured', origin: 'example', note: 'default 2.0' },
  { key: 'notifications', status: 'honoured', origin: 'example', note: 'a failing endpoint is logged and never stops the daemon' },
  notify('enabled'),
  notify('on_success'),
  notify('on_failure'),
  notify('on_stalled', 'idle longer than notifications.stall_threshold_minutes (default 60) while files wait'),
  notify('webhook_url', 'http(s) only; never logged (only its host)'),
  notify('webhook_type', 'slack | discord | generic'),
  notify('email_enabled'),
  notify('email_smtp_host'),
  { key: 'notifications.email_smtp_port', status: 'differs', origin: 'example', note: 'STARTTLS is required on it (as hyper2kvm) unless email_starttls: false; 465 uses implicit TLS' },
  notify('email_from'),
  notify('email_to', 'one address or a list'),
  notify('email_username'),
  notify('email_password', 'never logged'),
  { key: 'enable_deduplication', status: 'honoured', origin: 'example', note: 'SQLite {output_dir}/.daemon/deduplication.db, table processed_files' },
  { key: 'deduplication_use_md5', status: 'differs', origin: 'example', note: 'true: content hash (MD5, or xxh3 with deduplication_hash) of all of an image\'s files; false: filename + size' },
  { key: 'archive_processed', status: 'honoured', origin: 'example', note: 'sources move to {watch_dir}/.processed/YYYY-MM-DD/, as in hyper2kvm' },
  { key: 'flatten', status: 'differs', origin: 'example', note: 'outputs are always one flattened image; flatten: false is warned about', warnIf: isFalse },
  { key: 'out_format', status: 'differs', origin: 'example', note: 'qcow2 | vmdk | vdi | raw (src/native/formats.ts; vmdk is streamOptimized)' },
  { key: 'compress', status: 'honoured', origin: 'example', note: 'zlib-compressed qcow2 (compression: zstd is faster)' },
  { key: 'compress_level', status: 'ignored', origin: 'example', note: 'h2k compresses zlib at one fixed level (libdeflate 5, about the size of qemu\'s default)', why: 'h2k compresses zlib at one fixed level' },
  { key: 'enable_recovery', status: 'differs', origin: 'example', note: 'always on: after a crash the half-written .partial is removed and the job redone from the source; false is warned about', warnIf: isFalse },
  { key: 'fstab_mode', status: 'differs', origin: 'example', note: `stabilize-all (default) | bypath-only | noop: fstab/crypttab to UUID=; ${GUEST_FIX}` },
  { key: 'regen_initramfs', status: 'differs', origin: 'example', note: `default true: virtio drivers into the initramfs, regenerated in the guest; ${GUEST_FIX}` },
  { key: 'update_grub', status: 'differs', origin: 'example', note: `default true: root=/resume= to UUID= in the GRUB config, regenerated when the guest has the tool; ${GUEST_FIX}` },
  { key: 'win_virtio', status: 'differs', origin: 'example', note: WINDOWS },
  { key: 'win_hyperv', status: 'ignored', origin: 'example', note: 'not supported: h2k writes no Hyper-V enlightenments into the domain XML (Windows guests boot without them)' },
  { key: 'log_file', status: 'honoured', origin: 'example', note: 'lines are appended; stderr always gets them too' },
  { key: 'verbose', status: 'differs', origin: 'example', note: '0 errors+warnings, 1 info, 2 debug; 3 (trace) logs as 2' },
  { key: 'emit_domain_xml', status: 'honoured', origin: 'example', note: 'default false; true writes {output_dir}/YYYY-MM-DD/<vm>/<vm>.xml: every disk of the job (virtio, boot disk first), a virtio NIC on network default, the builder of `h2k ovf --libvirt-xml`; an OVA: its OVF\'s VM (name, CPUs, memory, firmware, NICs)' },
  { key: 'vm_memory', status: 'differs', origin: 'example', note: `MiB, default 2048, ${DOMAIN_XML}; an OVA keeps its OVF's memory unless the file sets vm_memory` },
  { key: 'vm_vcpus', status: 'differs', origin: 'example', note: `default 2, ${DOMAIN_XML}; an OVA keeps its OVF's CPUs unless the file sets vm_vcpus` },
  { key: 'vm_uefi', status: 'differs', origin: 'example', note: `default false, ${DOMAIN_XML}; true: OVMF (firmware efi); an OVA whose OVF says EFI stays EFI even with false (a warning), BIOS could not boot it` },

  // ---- other keys hyper2kvm's daemon code reads (its daemon, manifest workflow and per-file run)
  { key: 'cmd', status: 'refused', origin: 'code', note: 'hyper2kvm\'s alias of command; the same rules', refuseIf: (v) => typeof v === 'string' && v.trim().toLowerCase() !== 'daemon', refusal: 'h2k daemon runs only cmd: daemon (for one disk: h2k convert <disk>, for an OVA/OVF: h2k ovf)' },
  { key: 'manifest_workflow_mode', status: 'honoured', origin: 'code', note: 'true: the manifest workflow instead of the disk watcher' },
  { key: 'manifest_workflow_dir', status: 'honoured', origin: 'code', note: 'holds to_be_processed/, processing/, processed/, failed/' },
  { key: 'workflow_mode', status: 'refused', origin: 'code', note: 'hyper2kvm\'s 3-directory disk workflow is not implemented: true is refused (use watch_dir, or manifest_workflow_mode)', refuseIf: isTrue, refusal: 'hyper2kvm\'s 3-directory disk workflow is not implemented; drop disks into watch_dir (this daemon) or use manifest_workflow_mode: true' },
  { key: 'workflow_dir', status: 'ignored', origin: 'code', note: 'belongs to workflow_mode, which h2k does not implement' },
  { key: 'no_grub', status: 'differs', origin: 'code', note: `hyper2kvm's command-line form of update_grub: false (contradicting update_grub is refused); ${GUEST_FIX}` },
  { key: 'remove_vmware_tools', status: 'differs', origin: 'code', note: `Linux guests: default false, true removes the VMware tools packages and files; Windows guests: default true (msiexec /x of VMware Tools on first boot), false keeps them; ${GUEST_FIX}` },
  { key: 'fix_network', status: 'differs', origin: 'code', note: `default true; false leaves the guest's network alone; ${GUEST_FIX}` },
  { key: 'network_fix_level', status: 'differs', origin: 'code', note: `conservative | moderate (default) | aggressive, or h2k's none | basic | full (conservative and moderate are h2k's basic: MAC pinning removed; aggressive its full: NICs renamed to ethN too); ${GUEST_FIX}` },
  { key: 'virtio_drivers_dir', status: 'honoured', origin: 'code', note: WINDOWS },
  { key: 'flatten_format', status: 'ignored', origin: 'code', note: 'h2k writes no intermediate flattened image' },
  { key: 'to_output', status: 'ignored', origin: 'code', note: 'daemon outputs are named {output_dir}/YYYY-MM-DD/<vm>/<vm>.<format>' },
  { key: 'checksum', status: 'ignored', origin: 'code', note: 'report.json lists the output\'s content hashes; `h2k hash` computes SHA-256' },
  { key: 'dry_run', status: 'refused', origin: 'code', note: 'the daemon has no dry run: true is refused (use `h2k fix --dry-run` or `h2k manifest validate`)', refuseIf: isTrue, refusal: 'the daemon has no dry run; preview with h2k fix --dry-run or h2k manifest validate' },
  { key: 'no_backup', status: 'ignored', origin: 'code', note: 'h2k fixes the converted output, never the source, so it keeps no in-guest backups' },
  { key: 'print_fstab', status: 'ignored', origin: 'code', note: 'guest fixes list every change with before/after in their result' },
  { key: 'debug', status: 'ignored', origin: 'code', note: 'use verbose: 2' },
  { key: 'report', status: 'ignored', origin: 'code', note: 'each job writes report.json beside its output' },
  { key: 'libvirt_test', status: 'ignored', origin: 'code', note: 'use `h2k validate --boot` or the manifest workflow\'s validate stage' },
  { key: 'qemu_test', status: 'ignored', origin: 'code', note: 'use `h2k validate --boot` or the manifest workflow\'s validate stage' },
  { key: 'memory', status: 'ignored', origin: 'code', note: 'hyper2kvm\'s smoke-test VM memory; the domain XML uses vm_memory' },
  { key: 'vcpus', status: 'ignored', origin: 'code', note: 'hyper2kvm\'s smoke-test VM vCPUs; the domain XML uses vm_vcpus' },
  { key: 'uefi', status: 'ignored', origin: 'code', note: 'hyper2kvm\'s smoke-test firmware; the domain XML uses vm_uefi' },
  { key: 'timeout', status: 'ignored', origin: 'code', note: 'hyper2kvm\'s smoke-test timeout; see job_timeout for conversions' },

  // ---- h2k's own keys
  { key: 'file_extensions', status: 'h2k', origin: 'h2k', note: 'file types picked up (hyper2kvm: a fixed list)' },
  { key: 'extent_wait_timeout', status: 'h2k', origin: 'h2k', note: 'seconds an extent-looking .vmdk waits for its descriptor (and an .ovf for its disk files, a .mf for its .ovf), default 600' },
  { key: 'compression', status: 'h2k', origin: 'h2k', note: 'none | zlib | zstd, overrides compress' },
  { key: 'threads', status: 'h2k', origin: 'h2k', note: 'compression threads per job (default cores / max_concurrent_jobs)' },
  { key: 'verify_output', status: 'h2k', origin: 'h2k', note: 'read each output back and compare its content with the source\'s' },
  { key: 'job_timeout', status: 'h2k', origin: 'h2k', note: 'cancel and retry a conversion running longer (0 = never)' },
  { key: 'deduplication_hash', status: 'h2k', origin: 'h2k', note: 'md5 | xxh3, with deduplication_use_md5: true' },
  { key: 'deduplication_retention_days', status: 'h2k', origin: 'h2k', note: 'dedup records older than this are removed, default 90' },
  { key: 'metrics_listen', status: 'h2k', origin: 'h2k', note: 'host:port of a Prometheus endpoint' },
  { key: 'control_socket', status: 'h2k', origin: 'h2k', note: 'default {output_dir}/.daemon/control.sock' },
  { key: 'queue_url', status: 'h2k', origin: 'h2k', note: 'postgres://user:password@host/db: the daemons pointed at it share one job queue (images, or in manifest mode manifests and their VMs) and dedup store (README "Running on several hosts"); env H2K_QUEUE_URL; the password is never shown' },
  { key: 'host_name', status: 'h2k', origin: 'h2k', note: "this daemon's name in the cluster, default the machine's hostname; env H2K_HOST_NAME" },
  { key: 'lease_seconds', status: 'h2k', origin: 'h2k', note: "with queue_url: a host silent this long loses its jobs to another host, default 15" },
  { key: 'cluster_max_jobs', status: 'h2k', origin: 'h2k', note: 'with queue_url: jobs running at once in the whole cluster, 0 (default) = no limit' },
  { key: 'shutdown_grace_seconds', status: 'h2k', origin: 'h2k', note: 'on SIGTERM running jobs get this long to finish, then are cancelled and requeued, default 120' },
  { key: 'stats_interval', status: 'h2k', origin: 'h2k', note: 'seconds between stats.json writes, default 60' },
  { key: 'log_format', status: 'h2k', origin: 'h2k', note: 'human | json' },
  { key: 'manifest_source_root', status: 'h2k', origin: 'h2k', note: 'manifests may only name sources beneath this directory' },
  h2kNotify('stall_threshold_minutes', 'minutes idle with files waiting before daemon_stalled (hyper2kvm: fixed 60)'),
  h2kNotify('webhook_timeout_seconds', 'default 10'),
  h2kNotify('email_secure', 'implicit TLS (port 465)'),
  h2kNotify('email_starttls', 'default true; false allows plain SMTP'),
  h2kNotify('email_tls_ca_file', 'trust a private CA'),
  h2kNotify('email_tls_reject_unauthorized', 'default true'),
  h2kNotify('email_timeout_seconds', 'default 15'),
  h2kNotify('retry_attempts', 'a failing webhook or mail server is retried this often, default 3'),
  h2kNotify('retry_delay_seconds', 'default 1'),
];

export const KEY_ROWS: ReadonlyMap<string, KeyRow> = new Map(KEY_TABLE.map((r) => [r.key, r]));

const LABEL: Record<Exclude<KeyStatus, 'refused'>, string> = {
  honoured: 'honoured',
  differs: 'honoured, with a difference',
  ignored: 'accepted, ignored (warning)',
  h2k: 'h2k only',
};

function label(r: KeyRow): string {
  if (r.status !== 'refused') return LABEL[r.status];
  return r.refuseIf ? 'some values refused at start (exit 2)' : 'accepted, refused per job (warning)';
}

/** The README's key table (markdown). */
export function keyTableMarkdown(): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const lines = ['| key | h2k | what h2k does |', '|---|---|---|'];
  for (const r of KEY_TABLE) lines.push(`| \`${r.key}\` | ${label(r)} | ${cell(r.note)} |`);
  return lines.join('\n');
}

/** The warning at start for a key set to this value, if any. */
export function keyWarning(row: KeyRow, value: unknown): string | undefined {
  const warn = row.warnIf ? row.warnIf(value) : row.status === 'ignored';
  if (!warn) return undefined;
  const what = row.status === 'refused' ? 'refused per job' : row.status === 'ignored' ? 'ignored' : 'differs';
  return `${what}: ${row.key}: ${JSON.stringify(value)} (${row.why ?? row.note})`;
}
