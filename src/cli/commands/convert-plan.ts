// Which outputs `h2k convert` writes: one per source, except an OVA, which is one per disk its
// OVF lists (a multi-disk VM converted by its first disk only would be a silent half-success).
// Outputs are planned before any work, so a clash or a wrong -o fails at once.
import { statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { OutputFormat } from '../../convert/types.js';
import { loadAddon } from '../../native/addon.js';
import { isOva, listOvaMembers } from '../../ovf/ova-members.js';
import { H2kError } from '../../util/errors.js';

export interface PlannedConversion {
  /** What the native reader opens: a file, or "<vm.ova>/<member>". */
  source: string;
  output: string;
  /** The source the user named (an OVA for each of its disks). */
  given: string;
}

/** disk.vmdk -> disk.qcow2 beside it (or in outDir). */
export function defaultOutputPath(source: string, format: OutputFormat, outDir?: string): string {
  const base = basename(source, extname(source));
  // vm.ova/disk1.vmdk names a disk inside an archive: the output goes beside the archive.
  let dir = dirname(resolve(source));
  while (statOrUndefined(dir)?.isFile()) dir = dirname(dir);
  return join(outDir ?? dir, base + `.${format}`);
}

/** stat that answers undefined for any path that does not name something (ENOENT, ENOTDIR: "<vm.ova>/<member>"). */
function statOrUndefined(path: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** An OVF disk id as a file-name part: letters, digits, '.', '_', '-' kept, anything else '_'. */
function idPart(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || 'disk';
}

/** The disks of an OVA file in controller order, or undefined when `path` is not a whole OVA with a descriptor. */
async function ovaDisks(path: string, allowExternalPaths: boolean): Promise<{ source: string; id: string }[] | undefined> {
  if (!statOrUndefined(path)?.isFile() || !isOva(path)) return undefined;
  if (!listOvaMembers(path).some((m) => m.name.toLowerCase().endsWith('.ovf'))) return undefined; // a bare tar of one disk
  // loaded only for an OVA: the XML parser costs ~25 ms of start-up every other conversion skips
  const { loadOvf } = await import('../../ovf/import-ovf.js');
  const { vm, diskSources } = await loadOvf(path, allowExternalPaths);
  if (vm.disks.length === 0) throw new H2kError(`${path} describes no disks`, { code: 'E_OVF_INVALID', file: path });
  return vm.disks.map((d, i) => ({ source: diskSources[i], id: idPart(d.diskId) }));
}

function probesAsOva(source: string, sourceFormat: string | undefined): boolean {
  if (sourceFormat && sourceFormat !== 'ova') return false;
  try {
    return loadAddon().detectFormat(source) === 'ova';
  } catch {
    return false;
  }
}

export async function planConversions(
  sources: string[],
  format: OutputFormat,
  output: string | undefined,
  allowExternalPaths: boolean,
  sourceFormat?: string,
): Promise<PlannedConversion[]> {
  const expanded: { given: string; disks?: { source: string; id: string }[] }[] = [];
  for (const given of sources) {
    // Only whole files are looked into; "<vm.ova>/<member>" already names one disk. A source that
    // cannot even be probed is left to its conversion, which reports why (honouring -f).
    const disks = probesAsOva(given, sourceFormat) ? await ovaDisks(resolve(given), allowExternalPaths) : undefined;
    expanded.push({ given, disks });
  }
  const outputs = expanded.reduce((n, e) => n + (e.disks && e.disks.length > 1 ? e.disks.length : 1), 0);
  let outDir: string | undefined;
  if (output && outputs > 1) {
    if (!statOrUndefined(output)?.isDirectory()) {
      const multi = expanded.find((e) => e.disks && e.disks.length > 1);
      const why = multi && sources.length === 1 ? `${multi.given} holds ${multi.disks!.length} disks` : `there are ${outputs} outputs`;
      throw new H2kError(`${why}, so -o must name an existing directory: ${output}`, {
        code: 'E_INVALID_ARGUMENT',
        hint: multi ? `create the directory first; each disk is written as <vm>-<disk id>.${format} there (or use \`h2k ovf\`)` : 'create the directory first',
      });
    }
    outDir = resolve(output);
  }
  // One output: -o naming a directory means "into it", as with several (a directory is never
  // overwritten); a file's directory must exist, checked now rather than after the work.
  let single = output;
  if (output && outputs === 1) {
    if (statOrUndefined(output)?.isDirectory()) {
      outDir = resolve(output);
      single = undefined;
    } else {
      const dir = output.endsWith('/') ? resolve(output) : dirname(resolve(output));
      const st = statOrUndefined(dir);
      if (!st?.isDirectory())
        throw new H2kError(`the output directory ${dir} ${st ? 'is not a directory' : 'does not exist'} (-o ${output})`, {
          code: 'E_INVALID_ARGUMENT',
          hint: `create it first (mkdir -p ${dir}), or name an output in an existing directory`,
        });
    }
  }
  const plans: PlannedConversion[] = [];
  for (const e of expanded) {
    if (!e.disks || e.disks.length === 1) {
      const source = e.disks ? e.disks[0].source : e.given;
      plans.push({ source, given: e.given, output: single && outputs === 1 ? single : defaultOutputPath(e.given, format, outDir) });
      continue;
    }
    const stem = basename(e.given, extname(e.given));
    const dir = outDir ?? dirname(resolve(e.given));
    for (const d of e.disks) plans.push({ source: d.source, given: e.given, output: join(dir, `${stem}-${d.id}.${format}`) });
  }
  // Two sources must never write, or be credited with, the same output.
  const seen = new Map<string, PlannedConversion>();
  for (const p of plans) {
    const key = resolve(p.output);
    const first = seen.get(key);
    if (first)
      throw new H2kError(`${first.source} and ${p.source} would both be written to ${key}`, {
        code: 'E_INVALID_ARGUMENT',
        hint: 'convert them into different directories, or one at a time with -o',
      });
    seen.set(key, p);
  }
  return plans;
}
