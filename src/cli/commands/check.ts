// h2k check <image>: qemu-img check's report and exit codes, from h2k's readers reading every
// allocated byte of the image (src/check/check-image.ts).
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { checkImage, type CheckResult } from '../../check/check-image.js';
import { H2kError } from '../../util/errors.js';
import { EXIT } from '../exit-codes.js';
import { interruptOnSignals } from '../interrupt.js';
import { formatError, reportError } from '../report-error.js';

/** qemu-img check's exit codes: 0 clean, 1 not completed, 2 corruptions, 3 leaks only (qcow2), 63 unsupported. */
export function checkExitCode(r: CheckResult): number {
  return { ok: EXIT.OK, corrupt: 2, leaks: 3, failed: EXIT.FAILURE, unsupported: EXIT.CHECK_UNSUPPORTED }[r.status];
}

/** n/of as a percentage with printf's "%.2f" (an exact half rounds to even: 5/160 is 3.12%, as qemu-img prints). */
export function pct(n: number, of: number): string {
  if (!of) return '0.00';
  const scaled = (n * 10000) / of;
  let r = Math.floor(scaled);
  const frac = scaled - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r++;
  return `${Math.floor(r / 100)}.${String(r % 100).padStart(2, '0')}`;
}

/** qemu-img check's JSON keys where h2k computes them, plus h2k's `error` when the check fails. */
export function checkJson(filename: string, r: CheckResult): Record<string, unknown> {
  return {
    filename,
    ...(r.format ? { format: r.format } : {}),
    'check-errors': r.status === 'failed' ? 1 : 0,
    ...(r.status === 'corrupt' ? { corruptions: r.corruptions || 1 } : {}),
    ...(r.leaks ? { leaks: r.leaks } : {}),
    ...(r.imageEndOffset !== undefined ? { 'image-end-offset': r.imageEndOffset } : {}),
    ...(r.totalClusters !== undefined ? { 'total-clusters': r.totalClusters, 'allocated-clusters': r.allocatedClusters } : {}),
    ...(r.compressedClusters !== undefined ? { 'compressed-clusters': r.compressedClusters } : {}),
    ...(r.fragmentedClusters !== undefined ? { 'fragmented-clusters': r.fragmentedClusters } : {}),
    ...(r.error ? { error: r.error.toJSON() } : {}),
  };
}

/** qemu-img check's human lines (figures h2k cannot compute are left out, see README). */
export function checkHuman(r: CheckResult): string {
  const lines: string[] = [];
  if (r.status === 'ok') lines.push('No errors were found on the image.');
  if (r.status === 'corrupt')
    lines.push('', `${r.corruptions || 1} errors were found on the image.`, 'Data may be corrupted, or further writes to the image may corrupt it.');
  if (r.leaks)
    lines.push('', `${r.leaks} leaked clusters were found on the image.`, 'This means waste of disk space, but no harm to data.');
  if (r.totalClusters !== undefined && (r.status === 'ok' || r.status === 'leaks' || r.imageEndOffset !== undefined)) {
    const a = r.allocatedClusters ?? 0;
    const fragmented = r.fragmentedClusters !== undefined ? `, ${pct(r.fragmentedClusters, a)}% fragmented` : '';
    const compressed = r.compressedClusters !== undefined ? `, ${pct(r.compressedClusters, a)}% compressed clusters` : ' clusters';
    lines.push(`${a}/${r.totalClusters} = ${pct(a, r.totalClusters)}% allocated${fragmented}${compressed}`);
  }
  if (r.imageEndOffset !== undefined) lines.push(`Image end offset: ${r.imageEndOffset}`);
  return lines.join('\n');
}

interface CheckFlags {
  sourceFormat?: string;
  output?: string;
  json?: boolean;
  allowExternalPaths?: boolean;
}

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('check an image for consistency by reading every allocated byte, as qemu-img check reports it')
    .argument('<image>', 'image file (any format h2k reads)')
    .option('-f, --source-format <format>', 'skip detection and read as this format')
    .option('--allow-external-paths', 'allow extent/parent paths outside the image directory (trusted input only)')
    .option('--output <fmt>', 'human | json (as qemu-img check)')
    .option('--json', 'same as --output=json')
    .action(async (image: string, flags: CheckFlags) => {
      const json = flags.json === true || flags.output === 'json';
      if (flags.output !== undefined && flags.output !== 'json' && flags.output !== 'human') {
        process.exitCode = reportError(new H2kError(`--output ${flags.output}: use --output=json or --output=human`, { code: 'E_INVALID_ARGUMENT' }), false);
        return;
      }
      const interrupt = interruptOnSignals();
      const r = await checkImage({ path: resolve(image), format: flags.sourceFormat, allowExternalPaths: flags.allowExternalPaths, signal: interrupt.signal });
      interrupt.dispose();
      if (interrupt.exitCode() !== undefined) {
        process.exitCode = interrupt.exitCode();
        return;
      }
      if (json) process.stdout.write(JSON.stringify(checkJson(image, r), null, 4) + '\n');
      else {
        if (r.error) process.stderr.write(formatError(r.error) + '\n');
        const text = checkHuman(r);
        if (text) process.stdout.write(text + '\n');
      }
      process.exitCode = checkExitCode(r);
    });
}
