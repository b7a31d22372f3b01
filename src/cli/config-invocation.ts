// hyper2kvm is started as `hyper2kvm --config file.yaml`, the operation named inside the file
// (`command: daemon`); its generated systemd units add `--daemon --watch-dir=DIR`. h2k accepts
// the same invocation: the file's command picks the h2k command, which gets the rest of the
// command line (hyper2kvm's --daemon switch dropped: h2k's daemon always runs in the foreground,
// as hyper2kvm's does). Only `daemon` has an h2k equivalent here.
import { basename } from 'node:path';
import { H2kError } from '../util/errors.js';

const HELP_OR_VERSION = new Set(['-h', '--help', '-V', '--version']);

/** The --config values on a command line (`--config f` and `--config=f`). */
function configFiles(args: string[]): string[] {
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--config' && i + 1 < args.length) files.push(args[++i]!);
    else if (a.startsWith('--config=')) files.push(a.slice('--config='.length));
  }
  return files;
}

/**
 * For `h2k --config file.yaml [flags]` (no command name): the argv that runs the command the
 * file names, e.g. `h2k daemon --config file.yaml [flags]`. Undefined when argv is not that form.
 * Throws E_CONFIG (exit 2) when the file names no command h2k can run this way.
 */
export async function argvForConfigInvocation(argv: string[]): Promise<string[] | undefined> {
  const args = argv.slice(2);
  // a first word that is not an option is a command name (or a mistyped one) for commander
  if (!args[0]?.startsWith('-') || args.some((a) => HELP_OR_VERSION.has(a))) return undefined;
  const files = configFiles(args);
  if (files.length === 0) return undefined;
  if (files.length > 1)
    throw new H2kError(`--config is given ${files.length} times; h2k reads one config file (hyper2kvm merged several)`, {
      code: 'E_CONFIG', hint: 'merge the files into one, later keys winning, and pass that one',
    });
  const { readConfigFile } = await import('../config/load-config.js');
  const src = readConfigFile(files[0]!);
  const command = src.values.command ?? src.values.cmd;
  const name = basename(src.file ?? files[0]!);
  if (command === undefined)
    throw new H2kError(`${name} has no command: key, so h2k does not know what to run`, {
      code: 'E_CONFIG', file: src.file, hint: `add "command: daemon" to ${name}, or run h2k daemon --config ${files[0]}`,
    });
  if (typeof command !== 'string' || command.trim().toLowerCase() !== 'daemon')
    throw new H2kError(`${name} has command: ${JSON.stringify(command)}; h2k runs only command: daemon from a config file`, {
      code: 'E_CONFIG', file: src.file, hint: 'convert one disk with h2k convert <disk> (or h2k ovf for an OVA/OVF); h2k --help lists every command',
    });
  return [...argv.slice(0, 2), 'daemon', ...args.filter((a) => a !== '--daemon')];
}
