// h2k manifest validate <file...>: dry run of manifests; h2k manifest run <file>: one manifest
// in the foreground with progress, writing the same report the workflow daemon files.
import type { Command } from 'commander';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { configurePool } from '../../pool/pool.js';
import { H2kError, toH2kError } from '../../util/errors.js';
import { formatBytes, formatDuration } from '../../util/format.js';
import { checkManifest, type ManifestCheck } from '../../workflow/manifest-check.js';
import { JobLimiter } from '../../workflow/job-limiter.js';
import { manifestStem } from '../../workflow/manifest-loader.js';
import { runManifest } from '../../workflow/manifest-runner.js';
import { STAGE_NAMES, type StageName } from '../../workflow/manifest-schema.js';
import type { ManifestReport, StageReport, VmReport } from '../../workflow/report.js';
import { EXIT, exitCodeFor } from '../exit-codes.js';
import { interruptOnSignals } from '../interrupt.js';
import { createProgress } from '../progress.js';
import { formatError } from '../report-error.js';

/** Manifest problems are bad input (exit 3), like a corrupt image. */
export function manifestExitCode(code: string): number {
  if (code === 'E_MANIFEST_PARSE' || code === 'E_MANIFEST_INVALID' || code === 'E_FORMAT_MISMATCH') return EXIT.BAD_INPUT;
  return exitCodeFor(code);
}

function parseJobs(value: string | undefined): number {
  if (value === undefined) return 2;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64)
    throw new H2kError(`--jobs must be an integer between 1 and 64, got '${value}'`, { code: 'E_INVALID_ARGUMENT' });
  return n;
}

function printCheck(c: ManifestCheck): void {
  if (c.ok) {
    const vms = c.vms.map((v) => `${v.name}: ${v.source_type}${v.detected_format ? ` (${v.detected_format})` : ''} -> ${v.outputs?.join(', ') ?? v.output ?? 'no conversion'}`);
    process.stdout.write(`ok    ${c.file}\n${vms.map((l) => `  ${l}\n`).join('')}`);
    return;
  }
  process.stdout.write(`FAIL  ${c.file}\n`);
  for (const p of c.problems) process.stdout.write(`  [${p.code}] ${p.message}\n${p.hint ? `        hint: ${p.hint}\n` : ''}`);
}

async function runValidate(files: string[], flags: { outputDir?: string; json?: boolean; sourceRoot?: string }): Promise<number> {
  const outputDir = resolve(flags.outputDir ?? process.cwd());
  configurePool(1);
  const checks: ManifestCheck[] = [];
  const sourceRoot = flags.sourceRoot ? resolve(flags.sourceRoot) : undefined;
  for (const f of files) checks.push(await checkManifest(f, { outputDir, ...(sourceRoot ? { sourceRoot } : {}) }));
  if (flags.json) process.stdout.write(JSON.stringify({ output_dir: outputDir, manifests: checks }, null, 2) + '\n');
  else for (const c of checks) printCheck(c);
  const codes = checks.flatMap((c) => c.problems.map((p) => manifestExitCode(p.code)));
  return codes.length ? Math.max(...codes) : EXIT.OK;
}

function stageLine(name: StageName, s: StageReport): string {
  let detail = s.reason ?? '';
  if (s.error) detail = `[${s.error.code}] ${s.error.message}`;
  else if (s.status === 'success' && name === 'load') detail = `${s.detected_format}${s.subformat ? ` (${s.subformat})` : ''}, ${formatBytes(Number(s.virtual_size))} virtual`;
  else if (s.status === 'success' && name === 'convert')
    detail = `${s.output_file}, ${formatBytes(Number(s.bytes))}, ${s.compression}, ${formatDuration(Number(s.duration))}`;
  else if (s.status === 'success' && name === 'validate')
    detail = (s.checks as { name: string; passed: boolean | null; detail: string }[])
      .map((c) => `${c.name} ${c.passed === null ? `not run (${c.detail})` : c.passed ? 'ok' : 'FAILED'}`).join(', ');
  return `  ${name.padEnd(9)} ${s.status.padEnd(10)} ${detail}`;
}

function printVm(vm: Pick<VmReport, 'name' | 'status' | 'duration_seconds' | 'stages'>): void {
  process.stdout.write(`${vm.name}: ${vm.status} in ${formatDuration(vm.duration_seconds)}\n`);
  for (const n of STAGE_NAMES) process.stdout.write(stageLine(n, vm.stages[n]) + '\n');
}

function printReport(r: ManifestReport, reportPath: string): void {
  if (r.vms) {
    for (const vm of r.vms) printVm(vm);
    const s = r.summary!;
    process.stdout.write(`${r.manifest_file}: ${r.status}, ${s.completed} of ${s.total} VMs completed${s.failed ? ` (failed: ${s.failed_vms.join(', ')})` : ''}\n`);
  } else if (r.stages) {
    printVm({ name: r.name, status: r.status === 'completed' ? 'completed' : 'failed', duration_seconds: r.duration_seconds, stages: r.stages });
  }
  process.stdout.write(`report: ${reportPath}\n`);
}

interface RunFlags {
  outputDir?: string;
  jobs?: string;
  report?: string;
  json?: boolean;
  sourceRoot?: string;
  progress?: boolean;
}

async function runOne(file: string, flags: RunFlags): Promise<number> {
  const json = flags.json ?? false;
  let jobs: number;
  try {
    jobs = parseJobs(flags.jobs);
  } catch (err) {
    process.stderr.write(formatError(err) + '\n');
    return EXIT.USAGE;
  }
  const outputDir = resolve(flags.outputDir ?? process.cwd());
  try {
    await mkdir(outputDir, { recursive: true }); // before any work: a bad -o fails here, naming it
  } catch (err) {
    const e = toH2kError(err);
    process.stderr.write(formatError(e) + '\n');
    return exitCodeFor(e.code);
  }
  configurePool(jobs);
  const interrupt = interruptOnSignals();
  const abort = { signal: interrupt.signal };
  const progress = createProgress(!json && flags.progress !== false);
  const perVm = new Map<string, { done: number; total: number }>();
  let label = manifestStem(file);
  const redraw = () => {
    const t = [...perVm.values()].reduce((a, v) => ({ done: a.done + v.done, total: a.total + v.total }), { done: 0, total: 0 });
    progress.update(label, t.done, t.total);
  };
  let outcome;
  try {
    outcome = await runManifest(file, {
      outputDir,
      ...(flags.sourceRoot ? { sourceRoot: resolve(flags.sourceRoot) } : {}),
      limiter: new JobLimiter(jobs),
      jobSlots: jobs,
      signal: abort.signal,
      onStage: (vm, stage) => {
        label = `${vm}: ${stage}`;
        redraw();
      },
      onProgress: (vm, p) => {
        perVm.set(vm, { done: p.bytesDone, total: p.bytesTotal });
        redraw();
      },
    });
  } finally {
    progress.stop();
    interrupt.dispose();
  }

  if (!outcome.report) {
    const e = outcome.failure!.error;
    if (json) process.stdout.write(JSON.stringify({ error: e.toJSON() }, null, 2) + '\n');
    else process.stderr.write(formatError(e) + '\n' + ((e as { issues?: string[] }).issues ?? []).map((i) => `  - ${i}\n`).join(''));
    return manifestExitCode(e.code);
  }
  // <manifest file name>.report.json, as hyper2kvm names reports (my-vm.json -> my-vm.json.report.json).
  const reportPath = resolve(flags.report ?? join(outputDir, `${basename(file)}.report.json`));
  try {
    await writeFile(reportPath, JSON.stringify(outcome.report, null, 2) + '\n');
  } catch (err) {
    process.stderr.write(formatError(toH2kError(err)) + '\n');
    return EXIT.FAILURE;
  }
  if (json) process.stdout.write(JSON.stringify(outcome.report, null, 2) + '\n');
  else printReport(outcome.report, reportPath);
  const interrupted = interrupt.exitCode();
  if (interrupted !== undefined) return interrupted;
  if (!outcome.failure) return EXIT.OK;
  if (!json) process.stderr.write(formatError(outcome.failure.error) + '\n');
  return manifestExitCode(outcome.failure.error.code);
}

export function registerManifest(program: Command): void {
  const manifest = program.command('manifest').description('declarative per-VM pipelines (load, inspect, fix, convert, validate)');
  manifest
    .command('validate')
    .description('dry run: schema, sources, formats (every disk of an OVA/OVF) and output locations; writes nothing')
    .argument('<files...>', 'manifest files (.json, .yaml, .yml)')
    .option('-o, --output-dir <dir>', 'output directory output_path is relative to (default: current directory)')
    .option('--json', 'print the result as JSON')
    .option('--source-root <dir>', 'sources must lie beneath this directory (opened beneath it; E_PATH_ESCAPE otherwise)')
    .action(async (files: string[], flags: { outputDir?: string; json?: boolean; sourceRoot?: string }) => {
      process.exitCode = await runValidate(files, flags);
    });
  manifest
    .command('run')
    .description('run one manifest in the foreground with progress and write its report')
    .argument('<file>', 'manifest file (.json, .yaml, .yml)')
    .option('-o, --output-dir <dir>', 'output directory output_path is relative to (default: current directory)')
    .option('-j, --jobs <n>', 'VMs of a batch converted at once (default 2)')
    .option('--report <file>', 'where to write the report (default: <output-dir>/<manifest file name>.report.json)')
    .option('--json', 'print the report as JSON instead of a summary (no progress)')
    .option('--no-progress', 'no progress line, even on a terminal')
    .option('--source-root <dir>', 'sources must lie beneath this directory (opened beneath it; E_PATH_ESCAPE otherwise)')
    .action(async (file: string, flags: RunFlags) => {
      process.exitCode = await runOne(file, flags);
    });
}
