// h2k measure <source>: qemu-img measure's answer (required / fully allocated size of the output)
// from h2k's own readers, so an operator knows the disk has room before a long conversion.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { measureImage, type MeasureResult } from '../../convert/measure.js';
import { listed, outputFormats } from '../../native/formats.js';
import type { Compression, OutputFormat } from '../../convert/types.js';
import { H2kError } from '../../util/errors.js';
import { parseSize } from '../../util/format.js';
import { EXIT } from '../exit-codes.js';
import { reportError } from '../report-error.js';

interface MeasureFlags {
  outputFormat: string;
  compress?: string | boolean;
  clusterSize?: string;
  output?: string;
  json?: boolean;
  sourceFormat?: string;
  allowExternalPaths?: boolean;
}

/** qemu-img's lines, plus a note when the figure is a bound (compressed outputs). */
export function formatMeasure(m: MeasureResult): string {
  const lines = [`required size: ${m.required}`, `fully allocated size: ${m.fullyAllocated}`];
  if (m.upperBound)
    lines.push(`note: the output is compressed (${m.outputFormat === 'vmdk' ? 'streamOptimized VMDK' : 'qcow2 -c'}); required size is an upper bound (data counted uncompressed)`);
  return lines.join('\n');
}

export function parseClusterSize(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = parseSize(text);
  if (Number.isNaN(n) || n < 512 || n > 2 * 1024 * 1024 || (n & (n - 1)) !== 0)
    throw new H2kError(`--cluster-size ${text}: must be a power of two from 512 to 2M`, { code: 'E_INVALID_ARGUMENT', hint: 'e.g. --cluster-size 64K' });
  return n;
}

export function registerMeasure(program: Command): void {
  program
    .command('measure')
    .description('size an output before converting: required and fully allocated bytes, as qemu-img measure prints them')
    .argument('[source]', 'source image (any supported format; <vm.ova>/<member> names a disk inside an OVA)')
    .option('-O, --output-format <format>', outputFormats().join(' | '), 'qcow2')
    .option('-c, --compress [algo]', 'compressed qcow2 (zlib | zstd): required size becomes an upper bound')
    .option('--cluster-size <size>', 'qcow2 cluster size, 512..2M (default 64K)')
    .option('-f, --source-format <format>', 'skip detection and read the source as this format')
    .option('--allow-external-paths', 'allow extent/parent paths outside the image directory (trusted input only)')
    .option('--output <fmt>', 'human | json (as qemu-img measure)')
    .option('--json', 'same as --output=json')
    .action(async (given: string | undefined, flags: MeasureFlags) => {
      const json = flags.json === true || flags.output === 'json';
      try {
        if (flags.output !== undefined && flags.output !== 'json' && flags.output !== 'human')
          throw new H2kError(`--output ${flags.output}: use --output=json or --output=human`, { code: 'E_INVALID_ARGUMENT' });
        if (!outputFormats().includes(flags.outputFormat))
          throw new H2kError(`-O ${flags.outputFormat}: h2k writes ${listed(outputFormats())}`, { code: 'E_INVALID_ARGUMENT' });
        let compress = flags.compress;
        let source = given;
        // As in convert (qemu-img's habit): `-c disk.vmdk` is -c, then the source.
        if (typeof compress === 'string' && compress !== 'zlib' && compress !== 'zstd') {
          if (source !== undefined)
            throw new H2kError(`-c ${compress}: h2k compresses with zlib or zstd`, { code: 'E_INVALID_ARGUMENT' });
          source = compress;
          compress = true;
        }
        if (source === undefined)
          throw new H2kError('no source image given', { code: 'E_INVALID_ARGUMENT', hint: 'h2k measure <source> [-O qcow2|raw|vdi|vmdk] [-c] [--cluster-size N] [--output=json]' });
        const compression: Compression = compress === undefined || compress === false ? 'none' : compress === true ? 'zlib' : compress;
        const m = await measureImage({
          source: resolve(source),
          outputFormat: flags.outputFormat as OutputFormat,
          compression,
          clusterSize: parseClusterSize(flags.clusterSize),
          sourceFormat: flags.sourceFormat,
          allowExternalPaths: flags.allowExternalPaths ?? false,
        });
        process.stdout.write(
          (json ? JSON.stringify({ required: m.required, 'fully-allocated': m.fullyAllocated, ...(m.upperBound ? { 'upper-bound': true } : {}) }, null, 4) : formatMeasure(m)) + '\n',
        );
        process.exitCode = EXIT.OK;
      } catch (err) {
        process.exitCode = reportError(err, json);
      }
    });
}
