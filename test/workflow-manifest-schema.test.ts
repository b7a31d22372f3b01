// Manifest loading: a dozen malformed manifests and the precise, path-qualified messages they
// get; relative source paths; output_path escapes. In-process, no conversion involved.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadManifest } from '../src/workflow/manifest-loader.js';
import { ManifestError } from '../src/workflow/manifest-error.js';
import { assertOutputInside } from '../src/workflow/output-path.js';
import { tempDir } from './helpers/fixtures.js';

const tmp = tempDir('wf-schema');
const outputDir = join(tmp.dir, 'out');
mkdirSync(outputDir);
afterAll(() => tmp.cleanup());

let n = 0;
function manifestFile(ext: string, text: string): string {
  const f = join(tmp.dir, `m${n++}${ext}`);
  writeFileSync(f, text);
  return f;
}

async function issuesOf(ext: string, text: string): Promise<{ code: string; issues: string[] }> {
  try {
    await loadManifest(manifestFile(ext, text), { outputDir });
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestError);
    const e = err as ManifestError;
    return { code: e.code, issues: e.issues };
  }
  throw new Error('manifest was accepted');
}

const good = (pipeline: Record<string, unknown>) =>
  JSON.stringify({ version: '1.0', pipeline: { load: { source_type: 'vmdk', source_path: 'disk.vmdk' }, ...pipeline } });

describe('malformed manifests', () => {
  it('bad JSON names line and column', async () => {
    const r = await issuesOf('.json', '{\n  "version": "1.0",\n  "pipeline": {,}\n}');
    expect(r.code).toBe('E_MANIFEST_PARSE');
    expect(r.issues[0]).toMatch(/^invalid JSON at line 3, column \d+/);
  });

  it('bad YAML names line and column', async () => {
    const r = await issuesOf('.yaml', 'version: "1.0"\npipeline:\n  load: [source_type: vmdk\n  convert: x\n');
    expect(r.code).toBe('E_MANIFEST_PARSE');
    expect(r.issues[0]).toMatch(/^invalid YAML at line \d+, column \d+: /);
  });

  it('unknown output format, with the expected values and what was given', async () => {
    const r = await issuesOf('.json', good({ convert: { output_format: 'qcow3' } }));
    expect(r).toEqual({ code: 'E_MANIFEST_INVALID', issues: ["pipeline.convert.output_format: expected qcow2|vmdk|vdi|raw, got 'qcow3'"] });
  });

  it('unknown source_type', async () => {
    const r = await issuesOf('.yaml', 'version: "1.0"\npipeline:\n  load:\n    source_type: iso\n    source_path: a.iso\n');
    expect(r.issues).toEqual(["pipeline.load.source_type: expected vmdk|qcow2|vhdx|vdi|ova|vhd|raw|ovf|ami, got 'iso'"]);
  });

  it('unknown stage', async () => {
    const r = await issuesOf('.json', good({ transcode: { enabled: true } }));
    expect(r.issues).toEqual(["pipeline: unknown stage 'transcode' (stages are load, inspect, fix, convert, validate)"]);
  });

  it('wrong types', async () => {
    const r = await issuesOf('.json', good({ inspect: { enabled: 'yes' }, validate: { enabled: true, boot_test: 'always' } }));
    expect(r.issues).toContain("pipeline.inspect.enabled: expected boolean, got 'yes'");
    expect(r.issues).toContain("pipeline.validate.boot_test: expected boolean|object, got 'always'");
  });

  it('misspelled key inside a stage, and a nested enum', async () => {
    const r = await issuesOf('.json', good({ convert: {}, fix: { fstab: { mode: 'uuid' }, netwrok: {} } }));
    expect(r.issues).toContain("pipeline.fix.fstab.mode: expected stabilize-all|bypath-only|noop, got 'uuid'");
    expect(r.issues).toContain("pipeline.fix: unknown key 'netwrok'");
  });

  it('missing required fields and wrong version', async () => {
    const r = await issuesOf('.yaml', 'version: 2\npipeline:\n  load:\n    source_type: vmdk\n');
    expect(r.issues).toContain('version: expected 1.0, got 2');
    expect(r.issues).toContain('pipeline.load.source_path: required (expected string)');
  });

  it('not an object at all', async () => {
    const r = await issuesOf('.json', '[1, 2]');
    expect(r.issues[0]).toMatch(/^\(manifest\): expected an object/);
  });

  it('compression with raw output, fix and validate without convert', async () => {
    expect((await issuesOf('.json', good({ convert: { output_format: 'raw', compress: true } }))).issues).toEqual([
      'pipeline.convert.compress: compression needs output_format qcow2, not raw',
    ]);
    const r = await issuesOf('.json', good({ fix: {}, validate: {} }));
    expect(r.issues).toEqual([
      'pipeline.fix: needs a convert stage: fixes are applied to the converted output, never to the source',
      'pipeline.validate: needs a convert stage: validation checks the converted output',
    ]);
  });

  it('batch: bad entries are named by index, duplicate names refused', async () => {
    const vm = (name: string, type = 'vmdk') => ({ name, pipeline: { load: { source_type: type, source_path: `${name}.vmdk` }, convert: {} } });
    const r = await issuesOf('.json', JSON.stringify({ version: '1.0', batch: true, vms: [vm('a'), vm('b', 'iso')] }));
    expect(r.issues).toEqual(["vms[1].pipeline.load.source_type: expected vmdk|qcow2|vhdx|vdi|ova|vhd|raw|ovf|ami, got 'iso'"]);
    const d = await issuesOf('.json', JSON.stringify({ version: '1.0', batch: true, vms: [vm('a'), vm('b'), vm('a')] }));
    expect(d.issues).toEqual(["vms[2].name: duplicate VM name 'a' (also vms[0])"]);
    expect((await issuesOf('.json', JSON.stringify({ version: '1.0', batch: true, vms: [] }))).issues).toEqual(['vms: expected at least one VM']);
  });

  it('output_path escaping the output directory', async () => {
    const r = await issuesOf('.json', good({ convert: { output_path: '../../etc/evil.qcow2' } }));
    expect(r.code).toBe('E_PATH_ESCAPE');
    expect(r.issues[0]).toBe(`pipeline.convert.output_path: '../../etc/evil.qcow2' escapes the output directory ${outputDir}`);
    expect((await issuesOf('.json', good({ convert: { output_path: '/tmp/x.qcow2' } }))).code).toBe('E_PATH_ESCAPE');
  });

  it('two VMs of a batch writing the same file', async () => {
    const vm = (name: string) => ({ name, pipeline: { load: { source_type: 'raw', source_path: 'x.raw' }, convert: { output_path: 'same.qcow2' } } });
    const r = await issuesOf('.json', JSON.stringify({ version: '1.0', batch: true, vms: [vm('a'), vm('b')] }));
    expect(r.issues).toEqual([`vms[1].pipeline.convert.output_path: same output file as vms[0] (${join(outputDir, 'same.qcow2')})`]);
  });

  it('a manifest larger than 1 MiB is refused before parsing', async () => {
    const r = await issuesOf('.json', ' '.repeat(1024 * 1024 + 1));
    expect(r.issues[0]).toMatch(/limit is 1048576/);
  });
});

describe('path resolution', () => {
  it('fix.virtio_win resolves against the manifest directory; fix.windows can be turned off', async () => {
    const f = join(tmp.dir, 'win.yaml');
    writeFileSync(f, 'version: "1.0"\npipeline:\n  load: {source_type: vmdk, source_path: w.vmdk}\n  convert: {}\n  fix: {virtio_win: iso/virtio-win.iso, windows: {enabled: false}}\n');
    const m = await loadManifest(f, { outputDir });
    expect(m.vms[0].virtioWin).toBe(join(tmp.dir, 'iso', 'virtio-win.iso'));
    expect(m.vms[0].pipeline.fix!.windows).toEqual({ enabled: false });
  });

  it('relative source_path resolves against the manifest directory; defaults fill the stages', async () => {
    const sub = join(tmp.dir, 'sub');
    mkdirSync(sub);
    const f = join(sub, 'web 01.yaml');
    writeFileSync(f, 'version: "1.0"\npipeline:\n  load: {source_type: vmdk, source_path: ../disks/a.vmdk}\n  convert: {output_path: vms/}\n  fix: {}\n');
    const m = await loadManifest(f, { outputDir });
    expect(m.name).toBe('web_01');
    expect(m.vms[0].sourcePath).toBe(join(tmp.dir, 'disks', 'a.vmdk'));
    expect(m.vms[0].outputPath).toBe(join(outputDir, 'vms', 'web_01.qcow2'));
    expect(m.vms[0].pipeline.fix).toEqual({
      enabled: true,
      fstab: { enabled: true, mode: 'stabilize-all' },
      grub: { enabled: true },
      initramfs: { enabled: true, regenerate: true },
      network: { enabled: true, fix_level: 'basic' },
      windows: { enabled: true },
    });
    expect(m.vms[0].virtioWin).toBeUndefined();
    const other = await loadManifest(f, { outputDir, baseDir: '/srv/queue' });
    expect(other.vms[0].sourcePath).toBe('/srv/disks/a.vmdk');
  });

  it('a symlink inside the output directory cannot redirect the output elsewhere', async () => {
    symlinkSync(tmp.dir, join(outputDir, 'link'));
    await expect(assertOutputInside('m.json', outputDir, join(outputDir, 'link', 'x.qcow2'), 'pipeline.convert.output_path')).rejects.toMatchObject({
      code: 'E_PATH_ESCAPE',
    });
    await expect(assertOutputInside('m.json', outputDir, join(outputDir, 'new', 'x.qcow2'), 'f')).resolves.toBeUndefined();
  });
});
