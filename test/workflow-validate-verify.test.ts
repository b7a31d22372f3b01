// The validate stage's content check is the engine's --verify (the output read back by h2k's
// reader, compared with the source's content): a mismatch fails the validate stage with
// E_VERIFY_FAILED and leaves no output. The mismatch is forced by the engine's failpoint.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runH2k } from './helpers/cli.js';
import { makeSeededRaw, tempDir } from './helpers/fixtures.js';

const tmp = tempDir('workflow-verify');
afterAll(() => tmp.cleanup());

describe('validate content check through convert --verify', () => {
  it('a read-back mismatch fails validate with E_VERIFY_FAILED and removes the output', async () => {
    const source = makeSeededRaw(join(tmp.dir, 'disk.raw'), 8);
    const manifest = join(tmp.dir, 'vm.yaml');
    writeFileSync(manifest, ['version: "1.0"', 'name: vm', 'pipeline:', '  load:', '    source_type: raw', `    source_path: ${source}`,
      '  convert:', '    output_format: qcow2', '  validate:', '    enabled: true', ''].join('\n'));
    const out = join(tmp.dir, 'out');
    const r = await runH2k(['manifest', 'run', manifest, '-o', out, '--json'], { env: { H2K_FAILPOINT: 'verify-mismatch' } });
    expect(r.code).not.toBe(0);
    const vm = JSON.parse(r.stdout);
    const report = vm.vms?.[0] ?? vm;
    expect(report.failed_stage).toBe('validate');
    expect(report.error.code).toBe('E_VERIFY_FAILED');
    expect(report.stages.convert.status).toBe('not_run');
    expect(report.stages.validate.checks).toEqual([expect.objectContaining({ name: 'content_hash', passed: false })]);
    expect(existsSync(join(out, 'vm.qcow2'))).toBe(false);
    expect(existsSync(join(out, 'vm.qcow2.partial'))).toBe(false);
  });
});
