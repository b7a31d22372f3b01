// {watch_dir}/.errors/<file>.error.json: what failed, where in the pipeline, what to do about it,
// and enough about the machine to tell a full disk from a corrupt image.
import { statfs } from 'node:fs/promises';
import { basename } from 'node:path';
import { platform, release, arch } from 'node:os';
import type { H2kError } from '../util/errors.js';

export const PHASES = [
  'initialization',
  'file_type_detection',
  'argument_preparation',
  'output_directory_creation',
  'conversion',
  'guest_fix',
  'domain_xml',
  'completion',
] as const;
export type Phase = (typeof PHASES)[number];

export interface ErrorContext {
  filename: string;
  filepath: string;
  files: string[];
  file_size_mb: number;
  timestamp: string;
  error: string;
  code: string;
  error_file?: string;
  error_offset?: number;
  hint?: string;
  phase: Phase;
  retry_count: number;
  exception_traceback: string;
  suggestion: string;
  system_info: {
    node_version: string;
    h2k_version: string;
    platform: string;
    disk_space_free_gb: number | null;
  };
}

const SUGGESTIONS: [RegExp, string][] = [
  [/E_GUEST_WINDOWS_VIRTIO_WIN|E_GUEST_WINDOWS_NO_DRIVER/, 'Windows guests need the virtio-win drivers for their version: set virtio_drivers_dir to the virtio-win ISO (or its extracted directory) of a release that supports the guest'],
  [/E_GUEST_WINDOWS_BITLOCKER/, 'The Windows volume is BitLocker-encrypted: decrypt it in the guest (manage-bde -off C:), wait for "Fully Decrypted", export the VM again and drop the new disk'],
  [/E_GUEST_WINDOWS_(HIBERNATED|DIRTY|HIVE|CONTROL_SET)/, 'The Windows volume cannot be changed safely offline: boot the VM in its hypervisor, turn fast startup off, shut it down cleanly (chkdsk if asked) and drop the disk again'],
  [/E_GUEST_/, 'The config asks for guest fixes and they could not be applied (the output was removed); convert with h2k convert and run h2k fix on the output to see every step, or drop the disk into a daemon whose config sets no guest-fix keys'],
  [/E_UNSAFE_DROP/, 'Copy the disk into the watch folder as a regular file (cp, rsync); links, hard links, pipes, sockets and devices are refused unread'],
  [/E_FORMAT_MISMATCH/, 'The file is not what its extension says; give it its real extension (.img or .raw for raw disks), or drop a flat extent as <disk>-flat.vmdk with its descriptor'],
  [/E_VERIFY_FAILED/, 'The output did not read back as the source and was removed; check the output storage and memory, then retry (report it if it repeats)'],
  [/E_NO_SPACE|ENOSPC|no space|disk full|quota/i, 'Free up disk space or configure a different output_dir'],
  [/E_PERMISSION|EACCES|EPERM|permission denied/i, 'Check file permissions and ensure the daemon user can read the source and write output_dir'],
  [/E_TIMEOUT|ETIMEDOUT|timed? ?out|network|ECONNRESET|EHOSTUNREACH/i, 'Check network connectivity / storage latency to the source and output; the job may succeed on retry'],
  [/E_NO_MEMORY|ENOMEM|out of memory|allocation/i, 'Reduce max_concurrent_jobs or threads, or add memory'],
  [/E_FORMAT_MISMATCH/, 'The file name says one disk format but its content is another (or none); re-export the disk, or rename it to .img if it really is a raw disk'],
  [/E_VMDK_|E_QCOW2_|E_VHD|E_VDI_|E_CORRUPT|E_TRUNCATED|E_DECOMPRESS|E_UNKNOWN_FORMAT|E_BAD_|corrupt|invalid|truncated|magic/i,
    'Re-export the VM from its source; the disk image is corrupt, truncated or not a supported format'],
  [/E_DROP_ORDER/, 'Drop an appliance\'s .ovf before its disks, or copy all of its files aside on the same filesystem and move them into the watch folder together'],
  [/E_UNSUPPORTED/i, 'This image variant is not supported yet; convert it with the hypervisor\'s own tools first'],
  [/E_NOT_FOUND|ENOENT/i, 'A file of the image is missing (e.g. a VMDK extent); copy all of its files into the watch folder'],
  [/E_PATH_ESCAPE/i, 'The descriptor points outside its directory; fix the extent paths or convert by hand with --allow-external-paths'],
];

export function suggestionFor(code: string, message: string): string {
  const text = `${code} ${message}`;
  for (const [re, s] of SUGGESTIONS) if (re.test(text)) return s;
  return 'See the error and traceback; retry by moving the file back into the watch folder';
}

async function freeGb(dir: string): Promise<number | null> {
  try {
    const s = await statfs(dir);
    return Math.round(((s.bavail * s.bsize) / 1024 ** 3) * 100) / 100;
  } catch {
    return null;
  }
}

function traceback(err: H2kError): string {
  const parts = [err.stack ?? `${err.name}: ${err.message}`];
  let cause = (err as { cause?: unknown }).cause;
  for (let depth = 0; cause && depth < 4; depth++) {
    parts.push(`Caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`);
    cause = cause instanceof Error ? (cause as { cause?: unknown }).cause : undefined;
  }
  return parts.join('\n');
}

export async function buildErrorContext(args: {
  primary: string;
  files: string[];
  sizeBytes: number;
  error: H2kError;
  phase: Phase;
  retryCount: number;
  outputDir: string;
  version: string;
}): Promise<ErrorContext> {
  const e = args.error;
  return {
    filename: basename(args.primary),
    filepath: args.primary,
    files: args.files.map((f) => basename(f)),
    file_size_mb: Math.round((args.sizeBytes / 1024 ** 2) * 100) / 100,
    timestamp: new Date().toISOString(),
    error: e.message,
    code: e.code,
    error_file: e.file,
    error_offset: e.offset,
    hint: e.hint,
    phase: args.phase,
    retry_count: args.retryCount,
    exception_traceback: traceback(e),
    suggestion: suggestionFor(e.code, e.message),
    system_info: {
      node_version: process.version,
      h2k_version: args.version,
      platform: `${platform()} ${release()} ${arch()}`,
      disk_space_free_gb: await freeGb(args.outputDir),
    },
  };
}
