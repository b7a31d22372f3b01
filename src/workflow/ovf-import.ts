// `h2k ovf`: one VM through the pipeline's load and convert stages — the source probed as a
// manifest's source_type ova/ovf is (src/ovf's parser and path rules, loose disks checked by
// content, .mf digests from the conversion's own reads), every disk converted in controller order
// to <vm>-diskN.<format> in the output directory, the libvirt domain XML written by the same
// writer. On failure nothing this run wrote is left behind.
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Compression, ConvertOptions, ConvertResult, OutputFormat } from '../convert/types.js';
import { domainName, writeDomainXml } from '../ovf/libvirt-xml.js';
import { isOva } from '../ovf/ova-members.js';
import type { OvfVm } from '../ovf/ovf-types.js';
import { probeSource } from './source-probe.js';
import { convertDisks } from './stages/convert.js';

export interface ImportOvfRequest {
  source: string; // .ova or .ovf
  outputDir: string;
  outputFormat?: OutputFormat;
  compression?: Compression;
  threads?: number;
  force?: boolean;
  allowExternalPaths?: boolean;
  libvirtXml?: boolean;
  network?: string;
}

export interface ImportOvfResult {
  vm: OvfVm;
  disks: ConvertResult[];
  libvirtXml?: string;
  /** A declared ovf:capacity that differs from a disk's own size (see capacity-check.ts). */
  warnings: string[];
}

export async function importOvf(req: ImportOvfRequest, options: ConvertOptions = {}): Promise<ImportOvfResult> {
  const source = resolve(req.source);
  const allowExternalPaths = req.allowExternalPaths ?? false;
  const probe = await probeSource(source, isOva(source) ? 'ova' : 'ovf', source, { deferDigests: true, allowExternalPaths });
  const vm = probe.ovfVm!;
  const format = req.outputFormat ?? 'qcow2';
  const outDir = resolve(req.outputDir);
  const base = domainName(vm.name);
  const outputs = probe.disks.map((_, i) => join(outDir, `${base}-disk${i + 1}.${format}`));
  const written: string[] = [];
  // A missing -o directory is created before any work (and removed again if this run fails).
  const createdDir = mkdirSync(outDir, { recursive: true });
  try {
    const disks = await convertDisks(
      probe.disks,
      outputs,
      { outputFormat: format, compression: req.compression ?? 'none', threads: req.threads, force: req.force, allowExternalPaths },
      options,
      async (output) => void written.push(output),
    );
    let libvirtXml: string | undefined;
    if (req.libvirtXml) {
      libvirtXml = join(outDir, `${base}.xml`);
      await writeDomainXml(libvirtXml, vm, outputs.map((path) => ({ path, format })), {
        overwrite: req.force ?? false, network: req.network, existsHint: 'remove it or pass --force',
      });
    }
    const warnings = probe.disks.flatMap((d) => (d.capacityWarning ? [d.capacityWarning] : []));
    return { vm, disks, ...(libvirtXml ? { libvirtXml } : {}), warnings };
  } catch (err) {
    for (const p of written) rmSync(p, { force: true });
    if (createdDir) rmSync(createdDir, { recursive: true, force: true }); // made by this run: nothing else is in it
    throw err;
  }
}
