// `h2k manifest validate` (dry run) and `h2k manifest run` (foreground) through the real CLI,
// plus the shipped examples against the schema and the daemon config loader.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifestText, validateManifestData } from '../src/workflow/manifest-loader.js';
import { loadWorkflowAwareConfig } from '../src/workflow/workflow-config.js';
import { repoRoot, runH2k } from './helpers/cli.js';
import { compareImages, qemuImg } from './helpers/fixtures.js';
import { seededDisk, workflowTree, type WorkflowTree } from './helpers/workflow-fixtures.js';

let tree: WorkflowTree;
let disk: { raw: string; vmdk: string };

beforeAll(() => {
  tree = workflowTree('wf-cli');
  disk = seededDisk(tree.imagesDir, 'd', 6, 303);
});
afterAll(() => tree?.cleanup());

function write(name: string, text: string): string {
  const f = join(tree.imagesDir, name);
  writeFileSync(f, text);
  return f;
}

describe('h2k manifest validate', () => {
  it('accepts a good manifest and writes nothing', async () => {
    const f = write('ok.yaml', 'version: "1.0"\npipeline:\n  load: {source_type: vmdk, source_path: d.vmdk}\n  convert: {compress: true}\n  validate: {}\n');
    const r = await runH2k(['manifest', 'validate', f, '-o', tree.outputDir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`ok    ${f}`);
    expect(r.stdout).toContain(`ok: vmdk (vmdk) -> ${join(tree.outputDir, 'ok.qcow2')}`);
    expect(existsSync(join(tree.outputDir, 'ok.qcow2'))).toBe(false);
  });

  it('lists every problem of every file with its field path, exit 3', async () => {
    const files = [
      write('bad.json', '{"version": "1.0", "pipeline": {"load": {"source_type": "vmdk", "source_path": "d.vmdk"}, "convert": {"output_format": "qcow3"}}}'),
      write('nosrc.yaml', 'version: "1.0"\npipeline:\n  load: {source_type: vmdk, source_path: gone.vmdk}\n  convert: {}\n'),
      write('wrongtype.yaml', 'version: "1.0"\npipeline:\n  load: {source_type: vmdk, source_path: d.raw}\n  convert: {output_format: vdi}\n'),
      write('ovf.yaml', 'version: "1.0"\npipeline:\n  load: {source_type: ovf, source_path: d.raw}\n  convert: {output_format: vdi}\n'),
    ];
    const r = await runH2k(['manifest', 'validate', ...files, '-o', tree.outputDir, '--json']);
    expect(r.code).toBe(3);
    const out = JSON.parse(r.stdout) as { manifests: { file: string; ok: boolean; problems: { code: string; message: string }[] }[] };
    const [bad, nosrc, wrong, ovf] = out.manifests;
    expect(bad.problems).toEqual([expect.objectContaining({ code: 'E_MANIFEST_INVALID', message: "pipeline.convert.output_format: expected qcow2|vmdk|vdi|raw, got 'qcow3'" })]);
    expect(nosrc.problems).toEqual([expect.objectContaining({ code: 'E_NOT_FOUND', message: `pipeline.load.source_path: source not found: ${join(tree.imagesDir, 'gone.vmdk')}` })]);
    expect(wrong.problems.map((p) => p.code)).toEqual(['E_FORMAT_MISMATCH']);
    expect(wrong.problems[0].message).toMatch(/^pipeline\.load: source_type is vmdk but .*d\.raw does not look like a VMDK \(detected raw\)$/);
    // source_type ovf names a descriptor: a disk image there is no OVF.
    expect(ovf.problems.map((p) => p.code)).toEqual(['E_OVF_INVALID']);
    expect(ovf.problems[0].message).toMatch(/^pipeline\.load: /);
  });

  it('says up front when a guest stage needs a program that is not installed', async () => {
    const f = write('tools.yaml', 'version: "1.0"\npipeline:\n  load: {source_type: vmdk, source_path: d.vmdk}\n  convert: {}\n  fix: {}\n  validate: {boot_test: true}\n');
    // The real tools are installed here: hide them behind an empty PATH (h2k runs by absolute path).
    const r = await runH2k(['manifest', 'validate', f, '-o', tree.outputDir, '--json'], { env: { PATH: tree.imagesDir } });
    expect(r.code).toBe(1); // a missing program is not bad input (exit 3) but a failure
    const problems = (JSON.parse(r.stdout) as { manifests: { problems: { code: string; message: string; hint?: string }[] }[] }).manifests[0].problems;
    expect(problems).toEqual([
      expect.objectContaining({ code: 'E_GUEST_TOOLS_MISSING', message: 'pipeline.inspect/fix: needs guestfish, which is not installed' }),
      expect.objectContaining({ code: 'E_GUEST_TOOLS_MISSING', message: 'pipeline.validate.boot_test: needs qemu-system-x86_64, which is not installed' }),
    ]);
    expect(problems[0].hint).toMatch(/libguestfs-tools/);
    // With the real PATH the same manifest has no problem.
    const ok = await runH2k(['manifest', 'validate', f, '-o', tree.outputDir]);
    expect(ok.code, ok.stdout).toBe(0);
  });

  it('refuses an output that already exists unless overwrite is set', async () => {
    writeFileSync(join(tree.outputDir, 'exists.qcow2'), 'x');
    const f = write('exists.yaml', 'version: "1.0"\npipeline:\n  load: {source_type: vmdk, source_path: d.vmdk}\n  convert: {}\n');
    const r = await runH2k(['manifest', 'validate', f, '-o', tree.outputDir]);
    expect(r.code).toBe(4);
    expect(r.stdout).toContain(`[E_OUTPUT_EXISTS] pipeline.convert.output_path: output already exists: ${join(tree.outputDir, 'exists.qcow2')}`);
  });
});

describe('h2k manifest run', () => {
  it('runs a batch in the foreground and writes the same report the daemon files', async () => {
    const f = write('pair.json', JSON.stringify({
      version: '1.0', batch: true, vms: [
        { name: 'p1', pipeline: { load: { source_type: 'vmdk', source_path: 'd.vmdk' }, convert: { output_format: 'raw' }, validate: {} } },
        { name: 'p2', pipeline: { load: { source_type: 'raw', source_path: 'd.raw' }, convert: { compress: 'zstd' }, validate: {} } },
        { name: 'p3', pipeline: { load: { source_type: 'vmdk', source_path: 'd.vmdk' }, convert: { output_format: 'vdi' }, validate: {} } },
      ],
    }));
    const r = await runH2k(['manifest', 'run', f, '-o', tree.outputDir, '-j', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('pair.json: completed, 3 of 3 VMs completed');
    const report = JSON.parse(readFileSync(join(tree.outputDir, 'pair.json.report.json'), 'utf8'));
    expect(report).toMatchObject({ manifest: 'pair', manifest_file: 'pair.json', batch: true, status: 'completed', summary: { total: 3, completed: 3, failed: 0 } });
    expect(compareImages(disk.raw, join(tree.outputDir, 'p1.raw'), 'raw', 'raw').code).toBe(0);
    expect(compareImages(disk.raw, join(tree.outputDir, 'p2.qcow2'), 'raw', 'qcow2').code).toBe(0);
    expect(compareImages(disk.raw, join(tree.outputDir, 'p3.vdi'), 'raw', 'vdi').code).toBe(0);
    expect(report.vms[2].stages.validate.status).toBe('success');
  });

  it('converts vdi and qcow2 sources: every format the addon reads is a source_type', async () => {
    qemuImg(['convert', '-f', 'raw', '-O', 'vdi', disk.raw, join(tree.imagesDir, 'd.vdi')]);
    qemuImg(['convert', '-f', 'raw', '-O', 'qcow2', disk.raw, join(tree.imagesDir, 'd.qcow2')]);
    const f = write('readers.json', JSON.stringify({
      version: '1.0', batch: true, vms: [
        { name: 'from-vdi', pipeline: { load: { source_type: 'vdi', source_path: 'd.vdi' }, convert: {}, validate: {} } },
        { name: 'from-qcow2', pipeline: { load: { source_type: 'qcow2', source_path: 'd.qcow2' }, convert: { output_format: 'vmdk' }, validate: {} } },
      ],
    }));
    const r = await runH2k(['manifest', 'run', f, '-o', tree.outputDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(compareImages(disk.raw, join(tree.outputDir, 'from-vdi.qcow2'), 'raw', 'qcow2').code).toBe(0);
    expect(compareImages(disk.raw, join(tree.outputDir, 'from-qcow2.vmdk'), 'raw', 'vmdk').code).toBe(0);
  });

  it('prints the schema problems of an unusable manifest, exit 3', async () => {
    const f = write('unknown.yaml', 'version: "1.0"\npipeline:\n  load: {source_type: iso, source_path: x}\n  deploy: {}\n');
    const r = await runH2k(['manifest', 'run', f, '-o', tree.outputDir]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('h2k: error [E_MANIFEST_INVALID]');
    expect(r.stderr).toContain("  - pipeline.load.source_type: expected vmdk|qcow2|vhdx|vdi|ova|vhd|raw|ovf|ami, got 'iso'");
    expect(r.stderr).toContain("  - pipeline: unknown stage 'deploy' (stages are load, inspect, fix, convert, validate)");
  });
});

describe('shipped examples', () => {
  it('every example manifest passes the schema; the daemon example loads as a workflow config', () => {
    const dir = join(repoRoot, 'examples', 'manifests');
    for (const name of ['simple.yaml', 'batch.json', 'every-stage.yaml', 'ova.yaml']) {
      const file = join(dir, name);
      expect(() => validateManifestData(parseManifestText(readFileSync(file, 'utf8'), file), file)).not.toThrow();
    }
    const cfg = loadWorkflowAwareConfig(join(dir, 'manifest-daemon.yaml'));
    expect(cfg.warnings).toEqual([]);
    expect(cfg.config).toMatchObject({ manifest_workflow_mode: true, manifest_workflow_dir: '/var/lib/h2k/manifests', max_concurrent_jobs: 2 });
  });
});
