// `h2k ovf`: one VM through the pipeline's load and convert stages — the source probed as a
// manifest's source_type ova/ovf is (probeSource), every disk converted in controller order
// (convertDisks), the domain XML written by the one writer. On failure nothing this run wrote is
// left behind.
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ConvertOptions, ConvertRequest, ConvertResult } from '../convert/types.js';
import { domainName, writeDomainXml } from '../ovf/libvirt-xml.js';
import { isOva } from '../ovf/ova-members.js';
import type { OvfVm } from '../ovf/ovf-types.js';
import { multiDiskOutputs } from './output-path.js';
import { probeSource } from './source-probe.js';
import { convertDisks } from './stages/convert.js';

/** Every disk is converted with the same settings (ConvertRequest's names and defaults). */
export interface ImportOvfRequest extends Pick<ConvertRequest, 'outputFormat' | 'compression' | 'threads' | 'force' | 'allowExternalPaths'> {
  source: string; // .ova or .ovf
  outputDir: string;
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
  const { source: given, outputDir, libvirtXml, network, ...settings } = req;
  const source = resolve(given);
  const probe = await probeSource(source, isOva(source) ? 'ova' : 'ovf', source, { deferDigests: true, allowExternalPaths: req.allowExternalPaths });
  const vm = probe.ovfVm!;
  const format = req.outputFormat ?? 'qcow2';
  const outDir = resolve(outputDir);
  // The pipeline's names for a multi-disk VM's outputs: <vm>-diskN.<format> and <vm>.xml.
  const planned = multiDiskOutputs(join(outDir, `${domainName(vm.name)}.${format}`), format, probe.disks.length);
  const written: string[] = [];
  // A missing -o directory is created before any work (and removed again if this run fails).
  const createdDir = mkdirSync(outDir, { recursive: true });
  try {
    const disks = await convertDisks(probe.disks, planned.disks, { ...settings, outputFormat: format }, options, async (output) => void written.push(output));
    if (libvirtXml)
      await writeDomainXml(planned.libvirtXml, vm, planned.disks.map((path) => ({ path, format })), { overwrite: req.force ?? false, network, existsHint: 'remove it or pass --force' });
    const warnings = probe.disks.flatMap((d) => (d.capacityWarning ? [d.capacityWarning] : []));
    return { vm, disks, ...(libvirtXml ? { libvirtXml: planned.libvirtXml } : {}), warnings };
  } catch (err) {
    for (const p of written) rmSync(p, { force: true });
    if (createdDir) rmSync(createdDir, { recursive: true, force: true }); // made by this run: nothing else is in it
    throw err;
  }
}
