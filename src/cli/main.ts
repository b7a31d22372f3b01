// h2k command line: every command registers itself from src/cli/commands/.
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../native/addon.js';
import { destroyPool } from '../pool/pool.js';
import { EXIT } from './exit-codes.js';
import { reportError } from './report-error.js';
import { registerConvert } from './commands/convert.js';
import { registerInfo } from './commands/info.js';
import { registerHash } from './commands/hash.js';
import { registerDedup } from './commands/dedup.js';
import { registerDaemon } from './commands/daemon.js';
import { registerCtl } from './commands/ctl.js';
import { registerManifest } from './commands/manifest.js';
import { registerOvf } from './commands/ovf.js';
import { registerInspect } from './commands/inspect.js';
import { registerFix } from './commands/fix.js';
import { registerValidate } from './commands/validate.js';

export function version(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('h2k')
    .description('Move virtual machine disks from VMware, Hyper-V and VirtualBox onto KVM')
    .version(version())
    .showHelpAfterError('(run h2k <command> --help for usage)')
    .exitOverride();
  registerConvert(program);
  registerInfo(program);
  registerHash(program);
  registerDedup(program);
  registerDaemon(program);
  registerCtl(program);
  registerManifest(program);
  registerOvf(program);
  registerInspect(program);
  registerFix(program);
  registerValidate(program);
  return program;
}

/** Runs the CLI and returns the process exit code. Commands set process.exitCode themselves. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
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
    await destroyPool();
  }
}
