// Load stage: the source exists, its content matches source_type; an OVA/OVF's disks are planned.
import { probeSource } from '../source-probe.js';
import type { StageDetails, VmRun } from './vm-run.js';

export async function loadStage(run: VmRun): Promise<StageDetails> {
  const { vm, ctx, pipeline: p } = run;
  // A disk's .mf digest (OVA member, or beside a loose OVF) is checked by the conversion from its
  // own reads: the disk is read once.
  const probe = await probeSource(vm.sourcePath, p.load.source_type, `${vm.fieldPrefix}.load.source_path`, {
    deferDigests: Boolean(p.convert),
    ...(ctx.sourceRoot ? { sourceRoot: ctx.sourceRoot } : {}),
  });
  run.probe = probe;
  const o = probe.ovfVm;
  return {
    source_type: p.load.source_type,
    source_path: vm.sourcePath,
    detected_format: probe.detectedFormat,
    subformat: probe.subformat,
    virtual_size: probe.virtualSize,
    files: probe.files,
    warnings: probe.warnings,
    ...(o && {
      vm: { name: o.name, vcpus: o.vcpus, memory_bytes: o.memoryBytes, firmware: o.firmware, nics: o.nics.length },
      disks: probe.disks.map((d, i) => ({
        disk: i + 1, href: d.ovf?.href, controller: d.ovf?.controller, unit: d.ovf?.unit, source: d.source,
        detected_format: d.detectedFormat, subformat: d.subformat, virtual_size: d.virtualSize,
      })),
    }),
  };
}
