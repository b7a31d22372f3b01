// h2k command line: every command registers itself from src/cli/commands/.
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../native/addon.js';
import { runTasksInline } from '../pool/placement.js';
import { runShutdownHooks } from '../pool/shutdown.js';
import { COMMAND_INDEX } from './command-index.js';
import { argvForConfigInvocation } from './config-invocation.js';
import { EXIT } from './exit-codes.js';
import { reportError } from './report-error.js';

type Register = (program: Command) => void;

// Each command's module is imported only when that command runs (or for help), so a command
// does not pay for the start-up of every other one (daemon, guest, workflow dependencies).
const COMMANDS: Record<string, () => Promise<Register>> = {
  convert: async () => (await import('./commands/convert.js')).registerConvert,
  info: async () => (await import('./commands/info.js')).registerInfo,
  measure: async () => (await import('./commands/measure.js')).registerMeasure,
  check: async () => (await import('./commands/check.js')).registerCheck,
  hash: async () => (await import('./commands/hash.js')).registerHash,
  dedup: async () => (await import('./commands/dedup.js')).registerDedup,
  daemon: async () => (await import('./commands/daemon.js')).registerDaemon,
  ctl: async () => (await import('./commands/ctl.js')).registerCtl,
  manifest: async () => (await import('./commands/manifest.js')).registerManifest,
  ovf: async () => (await import('./commands/ovf.js')).registerOvf,
  inspect: async () => (await import('./commands/inspect.js')).registerInspect,
  fix: async () => (await import('./commands/fix.js')).registerFix,
  validate: async () => (await import('./commands/validate.js')).registerValidate,
  completion: async () => (await import('./commands/completion.js')).registerCompletion,
};

export function version(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** The command argv names: `h2k <cmd> ...` or `h2k help <cmd>`; undefined for top-level help/version. */
function namedCommand(argv: string[]): string | undefined {
  const first = argv[2];
  if (first && COMMANDS[first]) return first;
  if (first === 'help' && argv[3] && COMMANDS[argv[3]]) return argv[3];
  return undefined;
}

/**
 * The program with the command argv names fully registered. Without one (`h2k --help`,
 * `--version`, an unknown name) every command is registered from the index only, without
 * importing its module; `all` registers every real command (tests).
 */
export async function buildProgram(argv: string[] = [], all = false): Promise<Command> {
  const program = new Command();
  program
    .name('h2k')
    .description('Move virtual machine disks from VMware, Hyper-V and VirtualBox onto KVM')
    .version(version())
    .showHelpAfterError('(run h2k <command> --help for usage)')
    .addHelpText('after', '\nAs hyper2kvm is started: h2k --config daemon.yaml (with command: daemon in the file) runs h2k daemon --config daemon.yaml.')
    .exitOverride();
  const named = namedCommand(argv);
  if (named || all) {
    const loaders = named && !all ? [COMMANDS[named]] : Object.values(COMMANDS);
    for (const register of await Promise.all(loaders.map((load) => load()))) register(program);
    return program;
  }
  for (const [name, summary] of Object.entries(COMMAND_INDEX)) {
    const stub = program.command(summary.args ? `${name} ${summary.args}` : name).description(summary.description);
    // Only reached for a command name commander matched but namedCommand() did not, which
    // cannot happen; kept so a stub never silently succeeds.
    stub.action(() => {
      throw new Error(`internal: command ${name} was not loaded`);
    });
  }
  return program;
}

/** Runs the CLI and returns the process exit code. Commands set process.exitCode themselves. */
export async function main(argv: string[]): Promise<number> {
  try {
    // hyper2kvm's invocation, `h2k --config file.yaml` with command: daemon inside the file
    if (!namedCommand(argv)) argv = (await argvForConfigInvocation(argv)) ?? argv;
  } catch (err) {
    return reportError(err);
  }
  // Only the daemon keeps worker threads; a one-shot command runs its tasks on this thread.
  runTasksInline(namedCommand(argv) !== 'daemon');
  const program = await buildProgram(argv);
  if (argv.length <= 2) {
    // `h2k` alone is a usage error: the help goes to stderr and scripts see a non-zero exit.
    process.stderr.write(program.helpInformation());
    return EXIT.USAGE;
  }
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
        return EXIT.OK;
      return EXIT.USAGE;
    }
    return reportError(err);
  } finally {
    await runShutdownHooks();
  }
}
