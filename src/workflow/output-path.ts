// Where a VM's converted disk goes. output_path is relative to the output directory and may
// never leave it, neither lexically ("../x", "/etc/x") nor through a symlink inside it.
import { realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { ManifestOutputFormat } from './manifest-schema.js';
import { ManifestError } from './manifest-error.js';

export function outputExtension(format: ManifestOutputFormat): string {
  return `.${format}`;
}

/** True when `candidate` lies strictly beneath `root` (not `root` itself). */
function isStrictlyInside(root: string, candidate: string): boolean {
  const rel = relative(root, candidate);
  return rel !== '' && !rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel);
}

/** Lexical resolution; `field` names the manifest field for the error message. */
export function resolveOutputPath(
  manifestFile: string,
  outputDir: string,
  outputPath: string | undefined,
  vmName: string,
  format: ManifestOutputFormat,
  field: string,
): string {
  const root = resolve(outputDir);
  const fileName = vmName + outputExtension(format);
  if (outputPath === undefined) return join(root, fileName);
  const wantsDirectory = outputPath.endsWith('/');
  const target = resolve(root, outputPath);
  const full = wantsDirectory ? join(target, fileName) : target;
  if (!isStrictlyInside(root, full))
    throw new ManifestError('E_PATH_ESCAPE', manifestFile, [`${field}: '${outputPath}' escapes the output directory ${root}`],
      'give a path relative to the output directory, without ".." segments that leave it');
  return full;
}

/**
 * Where `path` really is: its deepest existing ancestor resolved through symlinks, with the parts
 * that do not exist yet (directories a run will create) appended as they are.
 */
async function realPlannedPath(path: string): Promise<string> {
  let p = path;
  const missing: string[] = [];
  for (;;) {
    try {
      return join(await realpath(p), ...missing);
    } catch (err) {
      const parent = dirname(p);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === p) throw err;
      missing.unshift(basename(p));
      p = parent;
    }
  }
}

/** Refuses outputs that a symlink inside the output directory would redirect elsewhere. */
export async function assertOutputInside(manifestFile: string, outputDir: string, output: string, field: string): Promise<void> {
  const realRoot = await realPlannedPath(resolve(outputDir));
  const parent = await realPlannedPath(dirname(output));
  if (parent !== realRoot && !isStrictlyInside(realRoot, parent))
    throw new ManifestError('E_PATH_ESCAPE', manifestFile, [`${field}: ${output} resolves through a symlink to ${parent}, outside the output directory ${realRoot}`],
      'remove the symlink or choose another output_path');
}

/**
 * A multi-disk VM (source_type ova/ovf) converts each disk to its own file. The VM's output
 * path (output_path, or <vm>.<format>) names the stem: disk N (controller order, from 1) goes
 * to <stem>-diskN.<format> and the libvirt domain XML to <stem>.xml, in the same directory.
 */
export function multiDiskOutputs(vmOutput: string, format: string, diskCount: number): { disks: string[]; libvirtXml: string } {
  const ext = `.${format}`;
  const stem = vmOutput.endsWith(ext) && vmOutput.length > ext.length ? vmOutput.slice(0, -ext.length) : vmOutput;
  return {
    disks: Array.from({ length: diskCount }, (_, i) => `${stem}-disk${i + 1}${ext}`),
    libvirtXml: `${stem}.xml`,
  };
}
