// The manifest workflow through the real daemon process: manifests dropped into
// to_be_processed/ move to processed/ or failed/ with reports and error records; batch partial
// failure; reprocessing of a failed manifest moved back; crash recovery from processing/.
// Oracles: qemu-img compare/check on the outputs, xxh128sum of the source content.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareImages, expectCleanCheck } from './helpers/fixtures.js';
import { waitFor } from './helpers/daemon-harness.js';
import { dropManifest, seededDisk, singleManifest, workflowTree, type WorkflowTree } from './helpers/workflow-fixtures.js';
import { startWorkflowDaemon, type WorkflowDaemon } from './helpers/workflow-daemon.js';

let tree: WorkflowTree;
let daemon: WorkflowDaemon;
let diskA: { raw: string; vmdk: string };
let diskB: { raw: string; vmdk: string };
const staging = () => join(tree.root, 'staging');

function xxh128(file: string): string {
  return execFileSync('xxh128sum', [file], { encoding: 'utf8' }).split(/\s+/)[0];
}

/** The single dated directory under processed/ or failed/. */
function dated(state: 'processed' | 'failed'): string {
  const dir = join(tree.workflowDir, state);
  const days = readdirSync(dir);
  expect(days).toHaveLength(1);
  expect(days[0]).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  return join(dir, days[0]);
}

const readJson = (f: string) => JSON.parse(readFileSync(f, 'utf8'));
const finished = (event: 'manifest_processed' | 'manifest_failed', manifest: string, after = 0) =>
  daemon.waitForEvent(event, (e) => e.manifest === manifest && daemon.events.indexOf(e) >= after);

beforeAll(async () => {
  tree = workflowTree('wf-daemon');
  mkdirSync(staging());
  diskA = seededDisk(tree.imagesDir, 'a', 8, 101);
  diskB = seededDisk(tree.imagesDir, 'b', 6, 202);
  daemon = await startWorkflowDaemon(tree.root, tree.workflowDir, tree.outputDir, 2);
});

afterAll(async () => {
  await daemon?.stop();
  tree?.cleanup();
});

describe('h2k daemon --manifest-workflow-mode', () => {
  it('processes a VMDK manifest: processed/DATE/ with a report, output verified', async () => {
    // Relative source paths resolve against to_be_processed/, where the manifest was dropped.
    dropManifest(tree.queueDir, 'web.yaml', singleManifest('../../images/a.vmdk', {
      convert: { output_format: 'qcow2', compress: true },
      validate: { enabled: true },
    }), staging());
    const ev = await finished('manifest_processed', 'web.yaml');
    const day = dated('processed');
    expect(ev.path).toBe(join(day, 'web.yaml'));
    expect(existsSync(join(tree.queueDir, 'web.yaml'))).toBe(false);
    expect(readdirSync(join(tree.workflowDir, 'processing'))).toEqual([]);

    const report = readJson(join(day, 'web.yaml.report.json'));
    const output = join(tree.outputDir, 'web.qcow2');
    expect(report).toMatchObject({ manifest: 'web', manifest_file: 'web.yaml', name: 'web', status: 'completed' });
    expect(report.job_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(report.completed_at)).toBeGreaterThanOrEqual(Date.parse(report.started_at));
    expect(report.stages.load).toMatchObject({ status: 'success', source_type: 'vmdk', detected_format: 'vmdk', virtual_size: 8 * 1024 * 1024 });
    expect(report.stages.inspect).toEqual({ status: 'skipped', reason: 'not in manifest' });
    expect(report.stages.fix).toEqual({ status: 'skipped', reason: 'not in manifest' });
    expect(report.stages.convert).toMatchObject({ status: 'success', output_file: output, compression: 'zlib', bytes: statSync(output).size });
    expect(report.stages.validate.status).toBe('success');
    expect(report.stages.validate.checks.map((c: { name: string; passed: boolean }) => [c.name, c.passed])).toEqual([
      ['content_hash', true],
      ['qemu_img_check', true],
    ]);
    // Independent oracles: the content hash equals xxh128sum of the raw disk; qemu-img agrees.
    expect(report.artifacts).toMatchObject({ input: diskA.vmdk, output, hashes: { output_content: { xxh128: xxh128(diskA.raw) } } });
    expect(compareImages(diskA.raw, output, 'raw', 'qcow2').code).toBe(0);
    expectCleanCheck(output);
  });

  it('files malformed manifests under failed/DATE/ with an error record', async () => {
    dropManifest(tree.queueDir, 'qcow3.json', singleManifest('../../images/a.vmdk', { convert: { output_format: 'qcow3' } }), staging());
    dropManifest(tree.queueDir, 'broken.yml', 'version: "1.0"\npipeline:\n  load: {source_type: vmdk\n', staging());
    dropManifest(tree.queueDir, 'escape.json', singleManifest('../../images/a.vmdk', { convert: { output_path: '../../etc/x.qcow2' } }), staging());
    dropManifest(tree.queueDir, 'nosource.json', singleManifest('missing.vmdk', { convert: {} }), staging());
    for (const m of ['qcow3.json', 'broken.yml', 'escape.json', 'nosource.json']) await finished('manifest_failed', m);
    const day = dated('failed');

    const qcow3 = readJson(join(day, 'qcow3.json.error.json'));
    expect(qcow3).toMatchObject({
      original_name: 'qcow3.json', status: 'failed', stage: 'manifest', code: 'E_MANIFEST_INVALID', exception_type: 'ManifestError',
      error: "pipeline.convert.output_format: expected qcow2|vmdk|vdi|raw, got 'qcow3'",
    });
    // hyper2kvm's "exception" is a traceback: here the stack, message first.
    expect(qcow3.exception).toMatch(/^ManifestError: pipeline\.convert\.output_format: expected qcow2\|vmdk\|vdi\|raw, got 'qcow3'\n\s+at /);
    expect(qcow3.job_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number.isNaN(Date.parse(qcow3.failed_at))).toBe(false);
    expect(existsSync(join(day, 'qcow3.json'))).toBe(true);
    expect(existsSync(join(day, 'qcow3.json.report.json'))).toBe(false);

    expect(readJson(join(day, 'broken.yml.error.json'))).toMatchObject({ stage: 'manifest', code: 'E_MANIFEST_PARSE' });
    expect(readJson(join(day, 'broken.yml.error.json')).error).toMatch(/^invalid YAML at line \d+, column \d+/);
    expect(readJson(join(day, 'escape.json.error.json'))).toMatchObject({ stage: 'manifest', code: 'E_PATH_ESCAPE' });
    expect(readJson(join(day, 'escape.json.error.json')).error).toContain("pipeline.convert.output_path: '../../etc/x.qcow2' escapes the output directory");

    const nosource = readJson(join(day, 'nosource.json.error.json'));
    expect(nosource).toMatchObject({ stage: 'load', code: 'E_NOT_FOUND' });
    expect(nosource.error).toBe(`pipeline.load.source_path: source not found: ${join(tree.queueDir, 'missing.vmdk')}`);
    // It parsed, so its report exists too: load failed, later stages never ran.
    const report = readJson(join(day, 'nosource.json.report.json'));
    expect(report.status).toBe('failed');
    expect(report.stages.load.status).toBe('failed');
    expect(report.stages.convert).toEqual({ status: 'not_run' });
    expect(report.stages.validate).toEqual({ status: 'skipped', reason: 'not in manifest' });
    expect(existsSync(join(tree.outputDir, 'nosource.qcow2'))).toBe(false);
  });

  it('reprocesses a failed manifest moved back into to_be_processed/', async () => {
    const day = dated('failed');
    writeFileSync(join(tree.queueDir, 'missing.vmdk'), readFileSync(diskB.vmdk));
    const mark = daemon.events.length;
    renameSync(join(day, 'nosource.json'), join(tree.queueDir, 'nosource.json'));
    await finished('manifest_processed', 'nosource.json', mark);
    const out = join(tree.outputDir, 'nosource.qcow2');
    expect(compareImages(diskB.raw, out, 'raw', 'qcow2').code).toBe(0);
    expect(readJson(join(dated('processed'), 'nosource.json.report.json')).status).toBe('completed');
  });

  it('runs a batch: one VM failing does not fail the others, and the report says which', async () => {
    dropManifest(tree.queueDir, 'fleet.json', {
      version: '1.0',
      batch: true,
      vms: [
        { name: 'fleet-a', pipeline: { load: { source_type: 'raw', source_path: '../../images/a.raw' }, convert: { output_format: 'raw', output_path: 'fleet/' }, validate: {} } },
        { name: 'fleet-b', pipeline: { load: { source_type: 'vmdk', source_path: '../../images/nothing.vmdk' }, convert: { output_path: 'fleet/' } } },
        { name: 'fleet-c', pipeline: { load: { source_type: 'vmdk', source_path: '../../images/b.vmdk' }, convert: { output_format: 'qcow2', compress: 'zstd', output_path: 'fleet/c.qcow2' }, validate: { enabled: true } } },
      ],
    }, staging());
    await finished('manifest_failed', 'fleet.json');
    const day = dated('failed');
    const err = readJson(join(day, 'fleet.json.error.json'));
    expect(err).toMatchObject({ stage: 'load', code: 'E_NOT_FOUND', failed_vms: [{ name: 'fleet-b', stage: 'load', code: 'E_NOT_FOUND' }] });
    expect(err.error).toBe('1 of 3 VMs failed: fleet-b (E_NOT_FOUND in load)');
    const report = readJson(join(day, 'fleet.json.report.json'));
    expect(report).toMatchObject({ batch: true, status: 'partial', summary: { total: 3, completed: 2, failed: 1, failed_vms: ['fleet-b'] } });
    expect(report.vms.map((v: { name: string; status: string }) => [v.name, v.status])).toEqual([
      ['fleet-a', 'completed'], ['fleet-b', 'failed'], ['fleet-c', 'completed'],
    ]);
    expect(report.vms[1].stages.convert).toEqual({ status: 'not_run' });
    expect(report.vms[2].stages.convert).toMatchObject({ status: 'success', compression: 'zstd' });
    expect(compareImages(diskA.raw, join(tree.outputDir, 'fleet', 'fleet-a.raw'), 'raw', 'raw').code).toBe(0);
    expect(compareImages(diskB.raw, join(tree.outputDir, 'fleet', 'c.qcow2'), 'raw', 'qcow2').code).toBe(0);
    expect(readdirSync(join(tree.outputDir, 'fleet')).sort()).toEqual(['c.qcow2', 'fleet-a.raw']);
  });

  it('reports disabled stages as skipped and fails a source_type that does not match the content', async () => {
    // (inspect/fix against real guests run libguestfs and are tested with the guest module.)
    dropManifest(tree.queueDir, 'vdi.yaml', singleManifest('../../images/b.vmdk', { convert: { output_format: 'vdi' } }, 'ovf'), staging());
    dropManifest(tree.queueDir, 'off.yaml', singleManifest('../../images/b.raw', { inspect: { enabled: false }, fix: { enabled: false }, convert: { output_format: 'raw' } }, 'raw'), staging());
    await finished('manifest_failed', 'vdi.yaml');
    await finished('manifest_processed', 'off.yaml');
    const vdi = readJson(join(dated('failed'), 'vdi.yaml.error.json'));
    expect(vdi).toMatchObject({ stage: 'load', code: 'E_FORMAT_MISMATCH' });
    expect(vdi.error).toMatch(/source_type is ovf but .*b\.vmdk does not look like an OVF \(detected vmdk\)/);
    expect(existsSync(join(tree.outputDir, 'vdi.vdi'))).toBe(false);
    const off = readJson(join(dated('processed'), 'off.yaml.report.json'));
    expect(off.stages.inspect).toEqual({ status: 'skipped', reason: 'disabled' });
    expect(off.stages.fix).toEqual({ status: 'skipped', reason: 'disabled' });
    expect(off.stages.validate).toEqual({ status: 'skipped', reason: 'not in manifest' });
    expect(compareImages(diskB.raw, join(tree.outputDir, 'off.raw'), 'raw', 'raw').code).toBe(0);
  });

  it('after a crash, takes manifests left in processing/ again and discards their half-made outputs', async () => {
    expect(await daemon.stop()).toEqual({ code: 0, signal: null });
    // State a kill -9 mid-conversion leaves: manifest in processing/, its journal naming the
    // output, and a torn output file.
    const processing = join(tree.workflowDir, 'processing');
    const output = join(tree.outputDir, 'crashed.qcow2');
    writeFileSync(join(processing, 'crashed.json'), JSON.stringify(singleManifest('../../images/a.vmdk', { convert: {}, validate: {} })));
    writeFileSync(join(processing, '.crashed.json.job.json'), JSON.stringify({ job_id: 'x', manifest: 'crashed.json', outputs: [output] }));
    writeFileSync(output, 'torn');
    writeFileSync(`${output}.partial`, 'torn');
    daemon = await startWorkflowDaemon(tree.root, tree.workflowDir, tree.outputDir, 2);
    await daemon.waitForEvent('manifest_taken', (e) => e.manifest === 'crashed.json' && /after restart/.test(e.msg));
    const cleaned = await daemon.waitForEvent('manifest_cleaned', (e) => e.manifest === 'crashed.json');
    expect(cleaned.removed).toEqual([output, `${output}.partial`]);
    await finished('manifest_processed', 'crashed.json');
    expect(compareImages(diskA.raw, output, 'raw', 'qcow2').code).toBe(0);
    expect(existsSync(`${output}.partial`)).toBe(false);
    expect(readdirSync(processing)).toEqual([]);

    // A real kill -9 right after a manifest is taken: wherever it died, the restart finishes it.
    dropManifest(tree.queueDir, 'killed.yaml', singleManifest('../../images/b.vmdk', { convert: { compress: true }, validate: {} }), staging());
    await daemon.waitForEvent('manifest_taken', (e) => e.manifest === 'killed.yaml');
    daemon.proc.kill('SIGKILL');
    await daemon.exited;
    daemon = await startWorkflowDaemon(tree.root, tree.workflowDir, tree.outputDir, 2);
    const report = await waitFor('killed.yaml in processed/', () => {
      const f = join(dated('processed'), 'killed.yaml.report.json');
      return existsSync(f) ? readJson(f) : undefined;
    });
    expect(report.status).toBe('completed');
    expect(compareImages(diskB.raw, join(tree.outputDir, 'killed.qcow2'), 'raw', 'qcow2').code).toBe(0);
  });
});
