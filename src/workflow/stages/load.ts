// Load stage: the source exists, its content matches source_type; an OVA/OVF's disks are planned.
import { probeSource, type SourceProbe } from '../source-probe.js';
import type { ManifestVm } from '../manifest-loader.js';
import type { Pipeline } from '../manifest-schema.js';
import type { StageReport } from '../report.js';
import { secondsSince, type VmRun } from './vm-run.js';

export async function loadStage(run: VmRun): Promise<void> {
  const { vm, ctx, pipeline: p } = run;
  const t = Date.now();
  // A disk's .mf digest (OVA member, or beside a loose OVF) is checked by the conversion from its
  // own reads: the disk is read once.
  run.probe = await probeSource(vm.sourcePath, p.load.source_type, `${vm.fieldPrefix}.load.source_path`, {
    deferDigests: Boolean(p.convert),
    ...(ctx.sourceRoot ? { sourceRoot: ctx.sourceRoot } : {}),
  });
  run.stages.load = loadReport(p, vm, run.probe, secondsSince(t));
}

function loadReport(p: Pipeline, vm: ManifestVm, probe: SourceProbe, seconds: number): StageReport {
  const report: StageReport = {
    status: 'success',
    duration_seconds: seconds,
    source_type: p.load.source_type,
    source_path: vm.sourcePath,
    detected_format: probe.detectedFormat,
    subformat: probe.subformat,
    virtual_size: probe.virtualSize,
    files: probe.files,
    warnings: probe.warnings,
  };
  if (probe.ovfVm) {
    const o = probe.ovfVm;
    report.vm = { name: o.name, vcpus: o.vcpus, memory_bytes: o.memoryBytes, firmware: o.firmware, nics: o.nics.length };
    report.disks = probe.disks.map((d, i) => ({
      disk: i + 1, href: d.ovf?.href, controller: d.ovf?.controller, unit: d.ovf?.unit, source: d.source,
      detected_format: d.detectedFormat, subformat: d.subformat, virtual_size: d.virtualSize,
    }));
  }
  return report;
}
