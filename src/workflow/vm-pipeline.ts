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
import { secondsSince, type StageDetails, type VmRun, type VmRunContext } from './stages/vm-run.js';

/** The stages' reports before the run: not_run for each stage the manifest runs (load always,
 *  convert when present, the others when enabled), skipped and why for the rest. */
function initialStages(p: Pipeline): Record<StageName, StageReport> {
  const initial = (name: StageName): StageReport => {
    const s = name === 'load' || name === 'convert' ? p[name] && { enabled: true } : p[name];
    return s?.enabled ? { status: 'not_run' } : { status: 'skipped', reason: s ? 'disabled' : 'not in manifest' };
  };
  return Object.fromEntries(STAGE_NAMES.map((name) => [name, initial(name)])) as Record<StageName, StageReport>;
}

export async function runVmPipeline(vm: ManifestVm, ctx: VmRunContext): Promise<VmReport> {
  const started = new Date();
  const p = vm.pipeline;
  const created: string[] = [];
  let current = 'load' as StageName; // set through run.enter(): keep the wide type
  const stages = initialStages(p);
  const run: VmRun = {
    vm,
    ctx,
    pipeline: p,
    multiDisk: isOvfSourceType(p.load.source_type),
    artifacts: { input: vm.sourcePath, output: null, hashes: {} },
    checks: [],
    results: [],
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
  // Runs a stage the manifest includes (its report still says not_run).
  const stage = async (name: StageName, body: (r: VmRun) => Promise<StageDetails>) => {
    if (stages[name].status !== 'not_run') return;
    run.enter(name);
    const t = Date.now();
    const details = await body(run);
    stages[name] = { status: 'success', duration_seconds: secondsSince(t), ...details };
  };
  let failure: H2kError | undefined;
  try {
    await stage('load', loadStage);
    if (vm.outputPath) await stage('convert', convertStage);
    await stage('inspect', inspectStage);
    if (run.artifacts.output) await stage('fix', fixStage);
    if (run.results.length > 0) await stage('validate', validateStage);
  } catch (err) {
    failure = toH2kError(err);
    stages[current] = { ...(current === 'validate' ? { checks: run.checks } : {}), status: 'failed', error: reportedError(failure) };
    // A failed VM leaves no output behind: a file there would look finished (the report says so too).
    for (const f of created) await Promise.all([rm(f, { force: true }), rm(`${f}.partial`, { force: true })]);
    run.artifacts.output = null;
    for (const d of run.artifacts.disks ?? []) d.output = null;
    if (run.artifacts.libvirt_xml) run.artifacts.libvirt_xml = null;
  }

  const completed = new Date();
  const report: VmReport = {
    name: vm.name,
    status: failure ? 'failed' : 'completed',
    ...(failure ? { failed_stage: current, error: reportedError(failure) } : {}),
    started_at: started.toISOString(),
    completed_at: completed.toISOString(),
    duration_seconds: secondsBetween(started, completed),
    stages,
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
