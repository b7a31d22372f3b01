// h2k(1) in roff (man(7) macros), generated from the command definitions (command-spec.ts)
// so the man page lists exactly what `--help` and the completion scripts do.
import { allCommands, type CommandSpec } from './command-spec.js';

export interface ExitCodeDoc {
  code: number;
  name: string;
  meaning: string;
}

/** Text safe in a roff line: backslashes and hyphens escaped, no leading control character. */
function roff(text: string): string {
  const escaped = text.replace(/\\/g, '\\e').replace(/-/g, '\\-');
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}

function commandSection(spec: CommandSpec): string[] {
  const lines = ['.SS ' + roff(spec.path.join(' ')), '.B ' + roff(spec.usage), '.PP', roff(spec.description)];
  for (const arg of spec.args.filter((a) => a.description)) {
    lines.push('.TP', `.I ${roff(arg.name)}${arg.variadic ? ' ...' : ''}`, roff(arg.description));
  }
  for (const opt of spec.options) lines.push('.TP', '.B ' + roff(opt.flags), roff(opt.description));
  return lines;
}

export function manPage(root: CommandSpec, version: string, exitCodes: ExitCodeDoc[], date: string): string {
  const commands = allCommands(root).slice(1);
  const title = `h2k ${version}`;
  return [
    `.TH H2K 1 "${date}" "${roff(title)}" "User Commands"`,
    '.SH NAME',
    `h2k \\- ${roff(root.description)}`,
    '.SH SYNOPSIS',
    '.B h2k',
    '.I command',
    '[\\fIoptions\\fR] [\\fIarguments\\fR]',
    '.br',
    '.B h2k \\-\\-help',
    '|',
    '.B h2k',
    '.I command',
    '.B \\-\\-help',
    '.SH DESCRIPTION',
    roff(root.description) + '.',
    'Every command prints its own usage with',
    '.BR \\-\\-help .',
    '.SH OPTIONS',
    ...root.options.flatMap((o) => ['.TP', '.B ' + roff(o.flags), roff(o.description)]),
    '.SH COMMANDS',
    ...commands.flatMap(commandSection),
    '.SH EXIT STATUS',
    ...exitCodes.flatMap((e) => ['.TP', `.B ${e.code}`, `${roff(e.meaning)} (${roff(e.name)})`]),
    '.SH ENVIRONMENT',
    '.TP', '.B H2K_OUTPUT_DIR', "the daemon's output directory that \\fBh2k ctl\\fR uses when no \\-\\-output\\-dir, \\-\\-socket or \\-\\-config is given",
    '.TP', '.B H2K_QUEUE_URL', "\\fBh2k daemon\\fR: the cluster's PostgreSQL queue (queue_url); \\fBh2k ctl\\fR: status|stats of that cluster, pause|resume|drain of all its hosts",
    '.TP', '.B H2K_HOST_NAME', "\\fBh2k daemon\\fR: this daemon's name in the cluster (host_name; default the hostname)",
    '.TP', '.B H2K_NATIVE_ADDON', 'path of the native addon (h2k_native.node) to load instead of the packaged one',
    '.TP', '.B H2K_DEBUG', 'print stack traces with errors',
    '.TP', '.B H2K_GUEST_TRACE', '1: log each libguestfs appliance command of \\fBh2k inspect\\fR, \\fBfix\\fR and \\fBvalidate\\fR with its wall time (where a guest fix spends it)',
    '.TP', '.B H2K_GUEST_ACCEL', 'tcg|kvm: overrides the probe for the libguestfs appliance and \\fBvalidate \\-\\-boot\\fR',
    '.TP', '.B UV_THREADPOOL_SIZE', 'libuv thread pool size; h2k sets 16 unless it is already set',
    '.TP', '.B NOTIFY_SOCKET, WATCHDOG_USEC', 'set by systemd for Type=notify: the daemon sends READY, STATUS, STOPPING, RELOADING and WATCHDOG (sd_notify(3))',
    '.TP', '.B JOURNAL_STREAM', 'set by systemd: when it names stderr, each log line starts with its syslog priority (<3> error ... <7> debug)',
    '.SH FILES',
    '.TP', '.I <output_dir>/.daemon/control.sock', 'control socket of a running daemon (\\fBh2k ctl\\fR)',
    '.TP', '.I <output_dir>/.daemon/deduplication.db', 'deduplication database the daemon writes and \\fBh2k dedup\\fR reads',
    '.TP', '.I /var/lib/h2k/output', 'default daemon output directory',
    '.SH EXAMPLES',
    '.nf',
    'h2k info disk.vmdk',
    'h2k convert \\-O qcow2 \\-o disk.qcow2 disk.vmdk',
    'h2k ovf appliance.ova \\-o out/ \\-\\-libvirt\\-xml',
    'h2k daemon \\-\\-config daemon.yaml',
    'h2k ctl status',
    'eval "$(h2k completion bash)"',
    '.fi',
    '.SH SEE ALSO',
    '.BR qemu\\-img (1),',
    '.BR virt\\-inspector (1)',
    '',
  ].join('\n');
}
