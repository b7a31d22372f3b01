// `h2k convert --dry-run` writes nothing and says what would happen; the -o rules (an existing
// directory is where a single output goes; a missing one fails before any work).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runH2k } from './helpers/cli.js';
import { compareImages, makeSeededRaw, qemuImg, tempDir, toVmdk } from './helpers/fixtures.js';

const tmp = tempDir('cli-dry-run');
const raw = join(tmp.dir, 'src.raw');
const vmdk = join(tmp.dir, 'disk.vmdk');

beforeAll(() => {
  makeSeededRaw(raw, 9);
  toVmdk(raw, vmdk, 'monolithicSparse');
});
afterAll(() => tmp.cleanup());

describe('h2k convert --dry-run', () => {
  it('writes nothing, not even the output directory, and describes the plan', async () => {
    const before = readdirSync(tmp.dir).sort();
    const r = await runH2k(['convert', '--dry-run', vmdk, '-o', join(tmp.dir, 'plan.qcow2'), '-c', 'zstd', '--cluster-size', '128K']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readdirSync(tmp.dir).sort()).toEqual(before);
    expect(r.stdout).toContain(`${vmdk} -> ${join(tmp.dir, 'plan.qcow2')}`);
    expect(r.stdout).toMatch(/source format: +vmdk/);
    expect(r.stdout).toMatch(/compression: +zstd/);
    expect(r.stdout).toMatch(/cluster size: +131072/);
    expect(r.stdout).toMatch(/required size: .*upper bound/);
    expect(r.stdout).toMatch(/output: +would be created/);
  });

  it('--json gives the same plan, with the measure and whether the output would be refused', async () => {
    const existing = join(tmp.dir, 'existing.qcow2');
    writeFileSync(existing, 'not an image');
    const r = await runH2k(['convert', '-n', '--json', vmdk, '-o', existing]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.dryRun).toBe(true);
    expect(j.errors).toEqual([]);
    const p = j.plans[0];
    const q = JSON.parse(qemuImg(['measure', '--output=json', '-O', 'qcow2', vmdk]));
    expect(p).toMatchObject({ source: vmdk, sourceFormat: 'vmdk', output: existing, outputFormat: 'qcow2', compression: 'none', clusterSize: 65536 });
    expect(p).toMatchObject({ requiredBytes: q.required, fullyAllocatedBytes: q['fully-allocated'], requiredIsUpperBound: false });
    expect(p).toMatchObject({ outputExists: true, action: 'refuse' });
    const forced = JSON.parse((await runH2k(['convert', '-n', '--json', '--force', vmdk, '-o', existing])).stdout);
    expect(forced.plans[0].action).toBe('overwrite');
  });
});

describe('h2k convert -o rules', () => {
  it('-o <existing directory> --force with one source converts into it as <dir>/<name>.<fmt>', async () => {
    const dir = join(tmp.dir, 'into');
    mkdirSync(dir);
    const r = await runH2k(['convert', vmdk, '-o', dir, '--force', '-O', 'raw', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).results[0].output).toBe(join(dir, 'disk.raw'));
    expect(compareImages(raw, join(dir, 'disk.raw'), 'raw', 'raw').code).toBe(0);
  });

  it('a missing output directory is exit 2 naming it, before any work', async () => {
    const missing = join(tmp.dir, 'nope');
    for (const args of [['-o', join(missing, 'x.qcow2')], [join(missing, 'x.qcow2')], ['-o', `${missing}/`]]) {
      const r = await runH2k(['convert', vmdk, ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`the output directory ${missing} does not exist`);
      expect(existsSync(missing)).toBe(false);
    }
  });
});
