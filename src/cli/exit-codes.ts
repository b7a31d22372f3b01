// Documented exit codes (README "Exit codes"). Scripts and the daemon rely on them.
export const EXIT = {
  OK: 0,             // success
  FAILURE: 1,        // runtime failure: I/O, out of space, internal error, a checksum mismatch
  USAGE: 2,          // bad command line or configuration (also h2k alone: the help goes to stderr)
  BAD_INPUT: 3,      // the source image is invalid, corrupt, unsupported or references unsafe paths
  OUTPUT_EXISTS: 4,  // the output exists and --force was not given
  CHECK_UNSUPPORTED: 63, // h2k check: the format cannot be checked (qemu-img check's 63); check's 2 means corruptions found, 3 leaked qcow2 clusters only, 1 the check could not complete
  NO_DAEMON: 69,     // h2k ctl: no daemon answered on the control socket; h2k daemon: queue_url's database unreachable (sysexits EX_UNAVAILABLE)
  INTERRUPTED: 130,  // Ctrl-C (SIGINT) during a foreground job: cancelled, .partial removed
  TERMINATED: 143,   // SIGTERM during a foreground job: cancelled, .partial removed
} as const;

const BAD_INPUT_CODES = new Set([
  'E_UNKNOWN_FORMAT', 'E_CORRUPT', 'E_TRUNCATED', 'E_UNSUPPORTED', 'E_PATH_ESCAPE', 'E_DECOMPRESS',
  'E_NOT_FOUND', 'E_TOO_LARGE', 'E_FORMAT_MISMATCH', 'E_UNSAFE_DROP',
]);

export function exitCodeFor(code: string): number {
  if (code === 'E_OUTPUT_EXISTS') return EXIT.OUTPUT_EXISTS;
  if (code === 'E_CANCELLED') return EXIT.INTERRUPTED;
  if (code === 'E_INVALID_ARGUMENT' || code === 'E_USAGE' || code === 'E_CONFIG') return EXIT.USAGE;
  if (code === 'E_NO_DAEMON' || code === 'E_QUEUE_UNREACHABLE') return EXIT.NO_DAEMON;
  if (code === 'E_QUEUE_AUTH') return EXIT.USAGE;
  if (BAD_INPUT_CODES.has(code) || /^E_(VMDK|QCOW2|VHD|VHDX|VDI|OVA|OVF)_/.test(code)) return EXIT.BAD_INPUT;
  return EXIT.FAILURE;
}
