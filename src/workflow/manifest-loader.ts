// Reads a manifest (JSON or YAML by extension), checks it against the schema and resolves its
// paths: source_path against the manifest's directory, output_path inside the output directory.
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { toH2kError } from '../util/errors.js';
import { ManifestError } from './manifest-error.js';
import { formatIssues } from './format-issues.js';
import { batchManifestSchema, singleManifestSchema, type Manifest, type Pipeline } from './manifest-schema.js';
import { resolveOutputPath } from './output-path.js';

/** Manifests are small; anything bigger is not a manifest. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
export const MANIFEST_EXTENSIONS = ['.json', '.yaml', '.yml'];

export interface ManifestVm {
  name: string;
  /** "pipeline" for a single manifest, "vms[2].pipeline" in a batch: prefixes error messages. */
  fieldPrefix: string;
  pipeline: Pipeline;
  sourcePath: string;
  /** Absolute fix.virtio_win (Windows guests). */
  virtioWin?: string;
  /** Absolute output file; undefined when the pipeline has no convert stage. */
  outputPath?: string;
}

export interface LoadedManifest {
  file: string;
  /** File name without the manifest extension: names the report and error files. */
  stem: string;
  name: string;
  batch: boolean;
  vms: ManifestVm[];
}

export interface ResolveOptions {
  /** Directory relative source paths resolve against (default: the manifest's own directory). */
  baseDir?: string;
  outputDir: string;
  /** manifest_source_root / --source-root: sources must lie beneath it (checked when probed). */
  sourceRoot?: string;
}

export function isManifestFileName(name: string): boolean {
  return MANIFEST_EXTENSIONS.includes(extname(name).toLowerCase()) && !/\.(report|error)\.json$/i.test(name);
}

export function manifestStem(file: string): string {
  const name = basename(file);
  const ext = extname(name);
  return MANIFEST_EXTENSIONS.includes(ext.toLowerCase()) ? name.slice(0, -ext.length) : name;
}

function lineColumn(text: string, position: number): string {
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  return `line ${line}, column ${position - before.lastIndexOf('\n')}`;
}

export function parseManifestText(text: string, file: string): unknown {
  const ext = extname(file).toLowerCase();
  if (ext === '.json') {
    try {
      return JSON.parse(text);
    } catch (err) {
      const msg = (err as Error).message;
      const pos = /at position (\d+)/.exec(msg);
      const where = pos ? ` at ${lineColumn(text, Number(pos[1]))}` : '';
      throw new ManifestError('E_MANIFEST_PARSE', file, [`invalid JSON${where}: ${msg.replace(/\s*\(line \d+ column \d+\)/, '')}`],
        'check the JSON syntax (quotes, commas, brackets)');
    }
  }
  if (ext === '.yaml' || ext === '.yml') {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length > 0) {
      const issues = doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        const at = ` at line ${pos.line}, column ${pos.col}`;
        return `invalid YAML${at}: ${e.message.split('\n')[0]}`;
      });
      throw new ManifestError('E_MANIFEST_PARSE', file, issues, 'check the YAML syntax (indentation, colons, brackets)');
    }
    return doc.toJS({ maxAliasCount: 100 });
  }
  throw new ManifestError('E_MANIFEST_PARSE', file, [`unknown manifest extension '${ext}'`], 'name manifests *.json, *.yaml or *.yml');
}

export function validateManifestData(data: unknown, file: string): Manifest {
  if (data === null || typeof data !== 'object' || Array.isArray(data))
    throw new ManifestError('E_MANIFEST_INVALID', file, [`(manifest): expected an object with version and pipeline, got ${Array.isArray(data) ? 'an array' : String(data)}`]);
  const isBatch = (data as { batch?: unknown }).batch === true;
  const result = (isBatch ? batchManifestSchema : singleManifestSchema).safeParse(data, { reportInput: true });
  if (!result.success)
    throw new ManifestError('E_MANIFEST_INVALID', file, formatIssues(result.error), 'see examples/manifests for the format');
  return result.data;
}

/** Stems may hold characters a VM name may not; those become "_". */
function nameFromStem(stem: string): string {
  const cleaned = stem.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[._-]+/, '');
  return (cleaned || 'vm').slice(0, 128);
}

export function resolveManifest(manifest: Manifest, file: string, options: ResolveOptions): LoadedManifest {
  const absFile = resolve(file);
  const baseDir = resolve(options.baseDir ?? dirname(absFile));
  const stem = manifestStem(absFile);
  const entries = manifest.batch
    ? manifest.vms.map((vm, i) => ({ name: vm.name, pipeline: vm.pipeline, fieldPrefix: `vms[${i}].pipeline` }))
    : [{ name: manifest.name ?? nameFromStem(stem), pipeline: manifest.pipeline, fieldPrefix: 'pipeline' }];
  const issues: string[] = [];
  let escape: ManifestError | undefined;
  const seenOutputs = new Map<string, string>();
  const vms: ManifestVm[] = [];
  for (const e of entries) {
    const vm: ManifestVm = { ...e, sourcePath: resolve(baseDir, e.pipeline.load.source_path) };
    if (e.pipeline.fix?.virtio_win) vm.virtioWin = resolve(baseDir, e.pipeline.fix.virtio_win);
    const convert = e.pipeline.convert;
    if (convert) {
      const field = `${e.fieldPrefix}.convert.output_path`;
      try {
        vm.outputPath = resolveOutputPath(absFile, options.outputDir, convert.output_path, e.name, convert.output_format, field);
        const other = seenOutputs.get(vm.outputPath);
        if (other) issues.push(`${field}: same output file as ${other} (${vm.outputPath})`);
        else seenOutputs.set(vm.outputPath, field.replace(/(\.pipeline)?\.convert\.output_path$/, ''));
      } catch (err) {
        escape ??= err as ManifestError;
        issues.push(...(err as ManifestError).issues);
      }
    }
    vms.push(vm);
  }
  if (issues.length > 0)
    throw new ManifestError(escape && issues.length === escape.issues.length ? 'E_PATH_ESCAPE' : 'E_MANIFEST_INVALID', absFile, issues, escape?.hint);
  return { file: absFile, stem, name: manifest.name ?? nameFromStem(stem), batch: manifest.batch === true, vms };
}

export async function loadManifest(file: string, options: ResolveOptions): Promise<LoadedManifest> {
  let text: string;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new ManifestError('E_MANIFEST_PARSE', file, [`not a regular file: ${file}`]);
    if (st.size > MAX_MANIFEST_BYTES)
      throw new ManifestError('E_MANIFEST_PARSE', file, [`manifest is ${st.size} bytes; the limit is ${MAX_MANIFEST_BYTES}`], 'manifests describe pipelines; they are never this large');
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof ManifestError) throw err;
    throw toH2kError(err);
  }
  const manifest = validateManifestData(parseManifestText(text, file), file);
  return resolveManifest(manifest, file, options);
}

