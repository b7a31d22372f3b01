// Dry run of a manifest (`h2k manifest validate`): schema, source exists and is readable, format
// detected and readable (every disk of an OVA/OVF), output locations inside the output directory
// and writable. Nothing is written.
import { constants, existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname } from 'node:path';
import { toH2kError, type H2kError } from '../util/errors.js';
import { ManifestError } from './manifest-error.js';
import { loadManifest, type ManifestVm, type ResolveOptions } from './manifest-loader.js';
import { assertOutputInside, multiDiskOutputs } from './output-path.js';
import { isOvfSourceType, probeSource } from './source-probe.js';
import { findExecutable } from '../util/find-executable.js';

// Programs the guest stages run; a dry run says up front when one is missing.
const GUEST_TOOLS: { program: string; package: string; needed: (p: ManifestVm['pipeline']) => boolean; stage: string }[] = [
  { program: 'guestfish', package: 'libguestfs-tools', needed: (p) => Boolean(p.inspect?.enabled || p.fix?.enabled), stage: 'inspect/fix' },
  {
    program: 'qemu-system-x86_64', package: 'qemu-system-x86', stage: 'validate.boot_test',
    needed: (p) => Boolean(p.validate?.enabled && (p.validate.boot_test === true || (typeof p.validate.boot_test === 'object' && p.validate.boot_test.enabled))),
  },
];

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
  /** ova/ovf: one output per disk (controller order) and the libvirt domain XML. */
  outputs?: string[];
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

async function checkVm(vm: ManifestVm, file: string, outputDir: string, problems: CheckProblem[], sourceRoot?: string): Promise<CheckedVm> {
  const p = vm.pipeline;
  const checked: CheckedVm = { name: vm.name, source: vm.sourcePath, source_type: p.load.source_type };
  let diskCount = 1;
  try {
    const probe = await probeSource(vm.sourcePath, p.load.source_type, `${vm.fieldPrefix}.load.source_path`, sourceRoot ? { sourceRoot } : {});
    checked.detected_format = probe.detectedFormat;
    checked.virtual_size = probe.virtualSize;
    diskCount = probe.disks.length;
  } catch (err) {
    problems.push(...problemOf(toH2kError(err), `${vm.fieldPrefix}.load`));
  }
  for (const tool of GUEST_TOOLS)
    if (tool.needed(p) && !findExecutable(tool.program))
      problems.push({
        code: 'E_GUEST_TOOLS_MISSING',
        message: `${vm.fieldPrefix}.${tool.stage}: needs ${tool.program}, which is not installed`,
        hint: `install ${tool.package} (scripts/setup-system.sh does), or disable the stage`,
      });
  if (p.load.source_type === 'ova' && !p.convert && p.inspect?.enabled)
    problems.push({ code: 'E_UNSUPPORTED', message: `${vm.fieldPrefix}.inspect: needs a convert stage for an OVA source (libguestfs cannot open a disk inside the archive)` });
  if (vm.outputPath && p.convert) {
    checked.output = vm.outputPath;
    const field = `${vm.fieldPrefix}.convert.output_path`;
    let outputs = [vm.outputPath];
    if (isOvfSourceType(p.load.source_type)) {
      const planned = multiDiskOutputs(vm.outputPath, p.convert.output_format, diskCount);
      outputs = [...planned.disks, planned.libvirtXml];
      checked.outputs = outputs;
    }
    try {
      for (const output of outputs) {
        await assertOutputInside(file, outputDir, output, field);
        if (!p.convert.overwrite && existsSync(output))
          problems.push({ code: 'E_OUTPUT_EXISTS', message: `${field}: output already exists: ${output}`, hint: 'remove it or set convert.overwrite: true' });
      }
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
  for (const vm of manifest.vms) vms.push(await checkVm(vm, manifest.file, options.outputDir, problems, options.sourceRoot));
  return { file, ok: problems.length === 0, batch: manifest.batch, vms, problems };
}
