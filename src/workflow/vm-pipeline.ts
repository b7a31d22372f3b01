// Runs one VM's pipeline and reports every stage (stages/*.ts). Execution order: load, convert
// (with the validate stage's content check: the engine reads each output back), inspect, fix,
// validate. Fixes change the converted output, never the source, so the content check runs with
// the conversion, before any fix touches the output.
// A multi-disk VM (source_type ova/ovf) converts every disk, in controller order, to its own
// output and writes a libvirt domain XML beside them; inspect, fix and boot_test work on the
// boot disk (disk 1), the content check and qemu-img check on every disk.
import { rm } from 'node:fs/promises';
import { H2kError, toH2kError } from '../util/errors.js';
import type { ManifestVm } from './manifest-loader.js';
import { STAGE_NAMES, type Pipeline, type StageName } from './manifest-schema.js';
import { reportedError, secondsBetween, type StageReport, type VmReport } from './report.js';
import { isOvfSourceType } from './source-probe.js';
import { convertStage } from './stages/convert.js';
import { fixStage } from './stages/fix.js';
import { inspectStage } from './stages/inspect.js';
import { loadStage } from './stages/load.js';
import { validateStage } from './stages/validate.js';
import { included, type VmRun, type VmRunContext } from './stages/vm-run.js';

export type { ValidationCheck, VmRunContext } from './stages/vm-run.js';

function initialStages(p: Pipeline): Record<StageName, StageReport> {
  const stages = {} as Record<StageName, StageReport>;
  for (const name of STAGE_NAMES) {
    const inc = included(p, name);
    stages[name] = inc === true ? { status: 'not_run' } : { status: 'skipped', reason: inc === 'absent' ? 'not in manifest' : 'disabled' };
  }
  return stages;
}

export async function runVmPipeline(vm: ManifestVm, ctx: VmRunContext): Promise<VmReport> {
  const started = new Date();
  const p = vm.pipeline;
  const created: string[] = [];
  let current = 'load' as StageName; // set through run.enter(): keep the wide type
  const run: VmRun = {
    vm,
    ctx,
    pipeline: p,
    multiDisk: isOvfSourceType(p.load.source_type),
    stages: initialStages(p),
    artifacts: { input: vm.sourcePath, output: null, hashes: {} },
    checks: [],
    jobs: [],
    validateMs: 0,
    enter(stage) {
      current = stage;
      ctx.onStage?.(vm.name, stage);
    },
    async willCreate(path) {
      await ctx.journal?.recordOutput(path);
      created.push(path);
    },
  };
  const stage = async (name: StageName, body: (r: VmRun) => Promise<void>) => {
    run.enter(name);
    await body(run);
  };
  let failure: H2kError | undefined;
  try {
    await stage('load', loadStage);
    if (p.convert && vm.outputPath) await stage('convert', convertStage);
    if (included(p, 'inspect') === true) await stage('inspect', inspectStage);
    if (included(p, 'fix') === true && p.fix && run.artifacts.output) await stage('fix', fixStage);
    if (included(p, 'validate') === true && run.jobs.length > 0) await stage('validate', validateStage);
  } catch (err) {
    failure = toH2kError(err);
    run.stages[current] = { ...(current === 'validate' ? { checks: run.checks } : {}), status: 'failed', error: reportedError(failure) };
    // A failed VM leaves no output behind: a file there would look finished.
    for (const f of created) {
      await rm(f, { force: true });
      await rm(`${f}.partial`, { force: true });
    }
    if (created.length > 0) {
      run.artifacts.output = null;
      if (run.artifacts.disks) for (const d of run.artifacts.disks) d.output = null;
      if (run.artifacts.libvirt_xml) run.artifacts.libvirt_xml = null;
    }
  }

  const completed = new Date();
  const report: VmReport = {
    name: vm.name,
    status: failure ? 'failed' : 'completed',
    ...(failure ? { failed_stage: current, error: reportedError(failure) } : {}),
    started_at: started.toISOString(),
    completed_at: completed.toISOString(),
    duration_seconds: secondsBetween(started, completed),
    stages: run.stages,
    artifacts: run.artifacts,
  };
  if (failure) thrown.set(report, failure);
  return report;
}

// The error a failed VM threw, with its stack, kept beside (not in) the JSON report.
const thrown = new WeakMap<VmReport, H2kError>();

/** What a failed VM's pipeline threw (for the error record's stack). */
export function vmFailureError(report: VmReport): H2kError | undefined {
  return thrown.get(report);
}
