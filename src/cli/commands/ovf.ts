// h2k ovf <vm.ova|vm.ovf>: convert every disk of an OVF-described VM (controller order)
// and optionally write a libvirt domain XML beside them.
import type { Command } from 'commander';
import { formatBytes, formatDuration } from '../../util/format.js';
import { importOvf } from '../../workflow/ovf-import.js';
import { outputFormats } from '../../native/formats.js';
import type { Compression, OutputFormat } from '../../convert/types.js';
import { EXIT } from '../exit-codes.js';
import { interruptOnSignals } from '../interrupt.js';
import { createProgress } from '../progress.js';
import { reportError } from '../report-error.js';

interface OvfFlags {
  progress?: boolean;
  outputDir: string;
  outputFormat: string;
  compress?: string | boolean;
  threads?: string;
  libvirtXml?: boolean;
  network?: string;
  force?: boolean;
  allowExternalPaths?: boolean;
  json?: boolean;
}

export function registerOvf(program: Command): void {
  program
    .command('ovf')
    .description('convert every disk of an OVA/OVF virtual machine, optionally with a libvirt domain XML')
    .argument('<source>', '.ova archive (read in place) or .ovf descriptor')
    .requiredOption('-o, --output-dir <dir>', 'directory for the converted disks (and the XML)')
    .option('-O, --output-format <format>', outputFormats().join(' | '), 'qcow2')
    .option('-c, --compress [algo]', 'compress qcow2 clusters: zlib (default with -c) | zstd')
    .option('--threads <n>', 'compression threads per disk')
    .option('--libvirt-xml', 'write <vm>.xml (virtio disks and NICs) beside the disks')
    .option('--network <name>', 'libvirt network for the NICs', 'default')
    .option('--allow-external-paths', 'allow disk paths outside the OVF directory (trusted input only)')
    .option('--force', 'overwrite existing outputs')
    .option('--json', 'print a JSON result for scripts (no progress)')
    .option('--no-progress', 'no progress line, even on a terminal')
    .action(async (source: string, flags: OvfFlags) => {
      const progress = createProgress(!flags.json && flags.progress !== false);
      const interrupt = interruptOnSignals();
      try {
        const compression: Compression =
          flags.compress === undefined || flags.compress === false ? 'none' : flags.compress === true ? 'zlib' : (flags.compress as Compression);
        const result = await importOvf(
          {
            source,
            outputDir: flags.outputDir,
            outputFormat: flags.outputFormat as OutputFormat,
            compression,
            threads: flags.threads ? Number(flags.threads) : undefined,
            force: flags.force,
            allowExternalPaths: flags.allowExternalPaths,
            libvirtXml: flags.libvirtXml,
            network: flags.network,
          },
          { signal: interrupt.signal, onProgress: (p) => progress.update(source, p.bytesDone, p.bytesTotal) },
        );
        progress.stop();
        if (!flags.json) for (const w of result.warnings) process.stderr.write(`h2k: warning: ${w}\n`);
        if (flags.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        else {
          const vm = result.vm;
          const lines = [`${vm.name}: ${vm.vcpus} vCPU, ${formatBytes(vm.memoryBytes)} memory, ${vm.firmware.toUpperCase()}, ${vm.nics.length} NIC(s)`];
          result.disks.forEach((d, i) =>
            lines.push(`  disk ${i + 1} (${vm.disks[i].controller} ${vm.disks[i].unit}): ${d.source} -> ${d.output} (${formatBytes(d.virtualSize)}, ${formatDuration(d.seconds)})`),
          );
          if (result.libvirtXml) lines.push(`  libvirt XML: ${result.libvirtXml}`);
          process.stdout.write(lines.join('\n') + '\n');
        }
        process.exitCode = EXIT.OK;
      } catch (err) {
        progress.stop();
        const code = reportError(err, flags.json);
        process.exitCode = interrupt.exitCode() ?? code;
      } finally {
        interrupt.dispose();
      }
    });
}
