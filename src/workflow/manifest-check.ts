// Dry run of a manifest (`h2k manifest validate`): schema, source exists and is readable, format
// detected and supported, output location inside the output directory and writable, and every
// stage runnable on this machine. Nothing is written.
import { constants, existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname } from 'node:path';
import { toH2kError, type H2kError } from '../util/errors.js';
import { ManifestError } from './manifest-error.js';
import { loadManifest, type ManifestVm, type ResolveOptions } from './manifest-loader.js';
import { assertOutputInside } from './output-path.js';
import { probeSource } from './source-probe.js';
import { checkStageSupport } from './stage-support.js';

export interface CheckProblem {
  code: string;
  message: string;
  hint?: string;
}

export interface CheckedVm {
  name: string;
  source: string;
  source_type: string;
  detected_format?: string;
  virtual_size?: number;
  output?: string;
}

export interface ManifestCheck {
  file: string;
  ok: boolean;
  batch?: boolean;
  vms: CheckedVm[];
  problems: CheckProblem[];
}

function problemOf(e: H2kError, prefix?: string): CheckProblem[] {
  if (e instanceof ManifestError) return e.issues.map((message) => ({ code: e.code, message, ...(e.hint ? { hint: e.hint } : {}) }));
  const message = prefix && !e.message.startsWith(prefix) ? `${prefix}: ${e.message}` : e.message;
  return [{ code: e.code, message, ...(e.hint ? { hint: e.hint } : {}) }];
}

async function nearestExisting(path: string): Promise<string> {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

async function checkVm(vm: ManifestVm, file: string, outputDir: string, problems: CheckProblem[]): Promise<CheckedVm> {
  const p = vm.pipeline;
  const checked: CheckedVm = { name: vm.name, source: vm.sourcePath, source_type: p.load.source_type };
  try {
    const probe = await probeSource(vm.sourcePath, p.load.source_type, `${vm.fieldPrefix}.load.source_path`);
    checked.detected_format = probe.detectedFormat;
    checked.virtual_size = probe.virtualSize;
  } catch (err) {
    problems.push(...problemOf(toH2kError(err), `${vm.fieldPrefix}.load`));
  }
  if (vm.outputPath && p.convert) {
    checked.output = vm.outputPath;
    const field = `${vm.fieldPrefix}.convert.output_path`;
    try {
      await assertOutputInside(file, outputDir, vm.outputPath, field);
      if (!p.convert.overwrite && existsSync(vm.outputPath))
        problems.push({ code: 'E_OUTPUT_EXISTS', message: `${field}: output already exists: ${vm.outputPath}`, hint: 'remove it or set convert.overwrite: true' });
      const parent = await nearestExisting(dirname(vm.outputPath));
      try {
        await access(parent, constants.W_OK);
      } catch {
        problems.push({ code: 'E_PERMISSION', message: `${field}: cannot create files in ${parent}`, hint: 'check the output directory permissions' });
      }
    } catch (err) {
      problems.push(...problemOf(toH2kError(err), field));
    }
  }
  for (const s of await checkStageSupport(p)) problems.push(...problemOf(s.error, `${vm.fieldPrefix}.${s.stage}`));
  return checked;
}

export async function checkManifest(file: string, options: ResolveOptions): Promise<ManifestCheck> {
  const problems: CheckProblem[] = [];
  let manifest;
  try {
    manifest = await loadManifest(file, options);
  } catch (err) {
    return { file, ok: false, vms: [], problems: problemOf(toH2kError(err)) };
  }
  const vms: CheckedVm[] = [];
  for (const vm of manifest.vms) vms.push(await checkVm(vm, manifest.file, options.outputDir, problems));
  return { file, ok: problems.length === 0, batch: manifest.batch, vms, problems };
}
