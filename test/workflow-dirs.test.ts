// Filing a manifest (WorkflowDirs.finish): a namesake already filed today gets `<stem>-1`; a
// filing of the same run interrupted after its report was written (its host killed before the
// manifest moved) is finished under the same name, so the report is not filed twice.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from './helpers/fixtures.js';
import { localDate } from '../src/util/local-date.js';
import { WorkflowDirs } from '../src/workflow/workflow-dirs.js';

const fx = tempDir('wf-dirs');
afterAll(() => fx.cleanup());

describe('WorkflowDirs.finish', () => {
  it('finishes an interrupted filing of the same run under its name; a namesake of another run gets -1', async () => {
    const dirs = new WorkflowDirs(join(fx.dir, 'wf'));
    await dirs.ensure();
    const now = new Date();
    const day = join(dirs.root, 'processed', localDate(now));
    // What a filer killed between writing the report and moving the manifest leaves behind.
    mkdirSync(day, { recursive: true });
    writeFileSync(join(day, 'vm.json.report.json'), JSON.stringify({ job_id: 'run-1', status: 'completed' }));
    writeFileSync(join(dirs.processingDir, 'vm.json'), '{}');
    const again = await dirs.finish('vm.json', 'processed', { '.report.json': { job_id: 'run-1', status: 'completed' } }, now, 'run-1');
    expect(again.manifestPath).toBe(join(day, 'vm.json'));
    expect(readdirSync(day).sort()).toEqual(['vm.json', 'vm.json.report.json']);
    // The next run of a manifest of that name, the same day: filed beside it, not over it.
    writeFileSync(join(dirs.processingDir, 'vm.json'), '{}');
    const next = await dirs.finish('vm.json', 'processed', { '.report.json': { job_id: 'run-2' } }, now, 'run-2');
    expect(next.manifestPath).toBe(join(day, 'vm-1.json'));
    expect(JSON.parse(readFileSync(join(day, 'vm-1.json.report.json'), 'utf8')).job_id).toBe('run-2');
    expect(JSON.parse(readFileSync(join(day, 'vm.json.report.json'), 'utf8')).job_id).toBe('run-1');
    expect(existsSync(join(dirs.processingDir, 'vm.json'))).toBe(false);
  });
});
