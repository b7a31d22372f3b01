// h2k info <image>: what the image is, read from its own metadata.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { loadAddon, type NativeImageInfo } from '../../native/addon.js';
import { H2kError } from '../../util/errors.js';
import { formatBytes } from '../../util/format.js';
import { EXIT } from '../exit-codes.js';
import { reportError } from '../report-error.js';

const PROPERTY_LABELS: Record<string, string> = {
  adapterType: 'adapter type',
  hwVersion: 'hardware version',
  cid: 'CID',
  parentCid: 'parent CID',
  geometry: 'geometry (C/H/S)',
};

export function formatInfo(path: string, i: NativeImageInfo): string {
  const rows: [string, string][] = [
    ['image', path],
    ['format', `${i.format}${i.subformat ? ` (${i.subformat})` : ''}`],
    ['virtual size', `${formatBytes(i.virtualSize)} (${i.virtualSize} bytes)`],
    ['allocated', `${formatBytes(i.allocatedBytes)} of guest data`],
    ['file size', `${formatBytes(i.fileBytes)} in ${i.files.length} file${i.files.length === 1 ? '' : 's'}`],
    ['compression', i.compression || 'none'],
  ];
  for (const [key, label] of Object.entries(PROPERTY_LABELS))
    if (i.properties[key] !== undefined) rows.push([label, i.properties[key]]);
  for (const [k, v] of Object.entries(i.properties)) if (!(k in PROPERTY_LABELS)) rows.push([k, v]);
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  const lines = rows.map(([l, v]) => `${(l + ':').padEnd(width)}${v}`);
  if (i.extents.length) {
    lines.push('extents:');
    for (const e of i.extents)
      lines.push(`  ${e.access} ${e.type.padEnd(6)} ${formatBytes(e.sizeBytes).padStart(10)}  ${e.file || '(none)'}${e.fileOffset ? ` @${e.fileOffset}` : ''}`);
  }
  for (const w of i.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('show format, virtual size, extents and metadata of an image')
    .argument('<image>', 'image file (VMDK descriptor or monolithic file, raw, ...)')
    .option('-f, --source-format <format>', 'skip detection and read as this format')
    .option('--allow-external-paths', 'allow extent paths outside the image directory (trusted input only)')
    .option('--json', 'print JSON')
    .option('--output <fmt>', "human | json (qemu-img's spelling of --json)")
    .action(async (image: string, flags: { json?: boolean; output?: string; sourceFormat?: string; allowExternalPaths?: boolean }) => {
      if (flags.output !== undefined && flags.output !== 'json' && flags.output !== 'human') {
        process.exitCode = reportError(
          new H2kError(`--output ${flags.output}: use --output=json or --output=human`, { code: 'E_INVALID_ARGUMENT' }),
          false,
        );
        return;
      }
      if (flags.output === 'json') flags.json = true;
      try {
        const info = await loadAddon().imageInfo(resolve(image), {
          format: flags.sourceFormat,
          allowExternalPaths: flags.allowExternalPaths ?? false,
        });
        process.stdout.write((flags.json ? JSON.stringify({ image: resolve(image), ...info }, null, 2) : formatInfo(image, info)) + '\n');
        process.exitCode = EXIT.OK;
      } catch (err) {
        process.exitCode = reportError(err, flags.json);
      }
    });
}
