// h2k validate --boot <image>: boot the guest under qemu and pass only when userspace shows up.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { bootTest } from '../../guest/index.js';
import { H2kError } from '../../util/errors.js';
import { EXIT } from '../exit-codes.js';
import { reportError } from '../report-error.js';

interface ValidateFlags {
  boot?: boolean;
  timeout: string;
  consoleLog?: string;
  json?: boolean;
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('validate a converted guest: --boot boots it under qemu-system-x86_64 (KVM or TCG) and checks the serial console')
    .argument('<image>', 'converted disk image')
    .option('--boot', 'boot test (required for now: the only validation this command runs)')
    .option('--timeout <seconds>', 'give up after this many seconds', '600')
    .option('--console-log <file>', 'where to save the serial console log (default: <image>.boot-console.log)')
    .option('--json', 'print the JSON result')
    .action(async (image: string, flags: ValidateFlags) => {
      try {
        if (!flags.boot) throw new H2kError('nothing to validate: pass --boot', { code: 'E_USAGE', hint: 'h2k validate --boot <image>' });
        const timeoutSeconds = Number(flags.timeout);
        if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 86400)
          throw new H2kError(`--timeout must be 1..86400 seconds, got '${flags.timeout}'`, { code: 'E_INVALID_ARGUMENT' });
        const r = await bootTest(resolve(image), { timeoutSeconds, consoleLog: flags.consoleLog });
        if (flags.json) process.stdout.write(JSON.stringify({ image: resolve(image), ...r }, null, 2) + '\n');
        else
          process.stdout.write(
            `${r.passed ? 'PASS' : 'FAIL'}: ${r.reason}${r.marker ? ` (${r.marker})` : ''} after ${r.seconds}s under ${r.accel} (${r.firmware === 'uefi' ? 'UEFI, OVMF' : 'BIOS'})\nconsole log: ${r.consoleLog}\n`,
          );
        process.exitCode = r.passed ? EXIT.OK : EXIT.FAILURE;
      } catch (err) {
        process.exitCode = reportError(err, flags.json);
      }
    });
}
