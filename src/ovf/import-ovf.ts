// OVA/OVF -> one converted disk per OVF disk (controller order) + an optional libvirt
// domain XML beside them. Disks inside an OVA are read in place ("<ova>/<member>"); the
// native reader verifies the archive's .mf digests. For a loose .ovf, its .mf is verified
// here before anything converts. On failure nothing this run wrote is left behind.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { convertImage } from '../convert/convert-image.js';
import type { Compression, ConvertOptions, ConvertResult, OutputFormat } from '../convert/types.js';
import { H2kError } from '../util/errors.js';
import { buildDomainXml, domainName } from './libvirt-xml.js';
import { isOva, listOvaMembers, readOvaMember } from './ova-members.js';
import type { OvfVm } from './ovf-types.js';
import { parseOvf } from './parse-ovf.js';

export interface ImportOvfRequest {
  source: string; // .ova or .ovf
  outputDir: string;
  outputFormat?: OutputFormat;
  compression?: Compression;
  threads?: number;
  force?: boolean;
  allowExternalPaths?: boolean;
  libvirtXml?: boolean;
  network?: string;
}

export interface ImportOvfResult {
  vm: OvfVm;
  disks: ConvertResult[];
  libvirtXml?: string;
}

export interface LoadedOvf {
  vm: OvfVm;
  /** Per disk (same order as vm.disks): the path the native reader opens. */
  diskSources: string[];
}

function guardHref(href: string, allowExternal: boolean, ovfPath: string): void {
  if (allowExternal) return;
  if (isAbsolute(href) || href.split(/[\\/]/).includes('..'))
    throw new H2kError(`refusing disk path '${href}' referenced from ${ovfPath}: it leaves the OVF directory`, {
      code: 'E_PATH_ESCAPE',
      file: ovfPath,
      hint: 'the descriptor references a file outside its own directory; if you trust it, pass --allow-external-paths',
    });
}

async function fileDigest(path: string, algorithm: string): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Verifies a loose OVF's manifest (<name>.mf beside it) for the descriptor and every disk. */
async function verifyLooseManifest(ovfPath: string, names: string[]): Promise<void> {
  const mfPath = ovfPath.replace(/\.ovf$/i, '.mf');
  if (!existsSync(mfPath)) return;
  const expected = new Map<string, { algo: string; hex: string }>();
  for (const line of readFileSync(mfPath, 'utf8').split(/\r?\n/)) {
    const m = /^(SHA1|SHA256|SHA512)\((.+)\)\s*=\s*([0-9a-fA-F]+)\s*$/i.exec(line.trim());
    if (m) expected.set(m[2], { algo: m[1].toLowerCase(), hex: m[3].toLowerCase() });
    else if (line.trim())
      throw new H2kError(`manifest ${mfPath} has an unreadable line: ${line}`, { code: 'E_OVA_BAD_MANIFEST', file: mfPath });
  }
  for (const name of [basename(ovfPath), ...names]) {
    const e = expected.get(name);
    if (!e)
      throw new H2kError(`manifest ${mfPath} does not list ${name}`, { code: 'E_OVA_BAD_MANIFEST', file: mfPath, hint: 're-export the VM' });
    const actual = await fileDigest(join(dirname(ovfPath), name), e.algo);
    if (actual !== e.hex)
      throw new H2kError(`${e.algo.toUpperCase()} of ${name} is ${actual} but ${basename(mfPath)} says ${e.hex}`, {
        code: 'E_OVA_DIGEST_MISMATCH',
        file: join(dirname(ovfPath), name),
        hint: 'the file was modified or damaged in transit; copy or export it again',
      });
  }
}

export async function loadOvf(source: string, allowExternalPaths = false): Promise<LoadedOvf> {
  const path = resolve(source);
  if (isOva(path)) {
    const members = listOvaMembers(path);
    const ovf = members.find((m) => m.name.toLowerCase().endsWith('.ovf'));
    if (!ovf) throw new H2kError(`${path} holds no .ovf descriptor`, { code: 'E_OVF_INVALID', file: path });
    const vm = parseOvf(readOvaMember(path, ovf).toString('utf8'));
    const diskSources = vm.disks.map((d) => {
      if (d.file.chunkSize) throw new H2kError(`disk ${d.file.href} is split into chunks (ovf:chunkSize), which is not supported`, { code: 'E_UNSUPPORTED', file: path });
      if (!members.some((m) => m.name === d.file.href))
        throw new H2kError(`${path} lacks the disk file '${d.file.href}' its OVF references`, { code: 'E_OVA_NO_MEMBER', file: path });
      return `${path}/${d.file.href}`;
    });
    return { vm, diskSources };
  }
  const vm = parseOvf(readFileSync(path, 'utf8'));
  for (const d of vm.disks) guardHref(d.file.href, allowExternalPaths, path);
  await verifyLooseManifest(path, vm.disks.map((d) => d.file.href));
  return { vm, diskSources: vm.disks.map((d) => resolve(dirname(path), d.file.href)) };
}

export async function importOvf(req: ImportOvfRequest, options: ConvertOptions = {}): Promise<ImportOvfResult> {
  const { vm, diskSources } = await loadOvf(req.source, req.allowExternalPaths);
  if (vm.disks.length === 0) throw new H2kError(`${req.source} describes no disks`, { code: 'E_OVF_INVALID', file: req.source });
  const format = req.outputFormat ?? 'qcow2';
  const outDir = resolve(req.outputDir);
  const base = domainName(vm.name);
  const written: string[] = [];
  const results: ConvertResult[] = [];
  try {
    for (let i = 0; i < diskSources.length; i++) {
      const output = join(outDir, `${base}-disk${i + 1}.${format}`);
      const r = await convertImage(
        {
          source: diskSources[i],
          output,
          outputFormat: format,
          compression: req.compression ?? 'none',
          threads: req.threads,
          force: req.force,
          allowExternalPaths: req.allowExternalPaths,
        },
        options,
      );
      written.push(output);
      results.push(r);
    }
    let xmlPath: string | undefined;
    if (req.libvirtXml) {
      xmlPath = join(outDir, `${base}.xml`);
      if (existsSync(xmlPath) && !req.force)
        throw new H2kError(`output exists: ${xmlPath}`, { code: 'E_OUTPUT_EXISTS', file: xmlPath, hint: 'remove it or pass --force' });
      const xml = buildDomainXml(vm, written.map((p) => ({ path: p, format })), { network: req.network });
      writeFileSync(`${xmlPath}.partial`, xml);
      renameSync(`${xmlPath}.partial`, xmlPath);
    }
    return { vm, disks: results, libvirtXml: xmlPath };
  } catch (err) {
    for (const p of written) rmSync(p, { force: true });
    throw err;
  }
}
