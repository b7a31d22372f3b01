// A manifest with convert, fix and validate on a real (small, VMware-style) guest: the report's
// output hash is the final file's (after the fix), the hash that matched the source is kept as
// converted_content, and each stage's duration is its own (validate does not include the fix).
// Oracles: qemu-img convert to raw + xxhsum -H2 (xxh128).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCommand, runH2k } from './helpers/cli.js';
import { tempDir } from './helpers/fixtures.js';
import { vmwareGuestDisk } from './helpers/guest-fixtures.js';
import { toolDigest } from './helpers/hash-oracles.js';

const tmp = tempDir('workflow-fix-report');
afterAll(() => tmp.cleanup());

async function rawContentXxh128(image: string, format: string): Promise<string> {
  const raw = join(tmp.dir, `content-${Math.random().toString(36).slice(2)}.raw`);
  const r = await runCommand('qemu-img', ['convert', '-f', format, '-O', 'raw', image, raw]);
  expect(r.code, r.stderr).toBe(0);
  return toolDigest('xxh128', raw);
}

describe('manifest report after a guest fix', () => {
  it('reports the fixed file\'s hash, keeps the converted one, and times each stage on its own', async () => {
    const source = vmwareGuestDisk();
    const manifest = join(tmp.dir, 'guest.yaml');
    writeFileSync(
      manifest,
      [
        'version: "1.0"',
        'name: guest',
        'pipeline:',
        '  load:',
        '    source_type: raw',
        `    source_path: ${source}`,
        '  convert:',
        '    output_format: qcow2',
        '  fix:',
        '    enabled: true',
        '    fstab:',
        '      enabled: true',
        '      mode: stabilize-all',
        '    grub:',
        '      enabled: false',
        '    initramfs:',
        '      enabled: false',
        '    network:',
        '      enabled: false',
        '  validate:',
        '    enabled: true',
        '',
      ].join('\n'),
    );
    const out = join(tmp.dir, 'out');
    const r = await runH2k(['manifest', 'run', manifest, '-o', out, '--json'], { timeout: 600_000 });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    const vm = report.vms?.[0] ?? report;
    const output = join(out, 'guest.qcow2');
    const hashes = vm.artifacts.hashes;
    expect(vm.stages.fix.fixes_applied.length).toBeGreaterThan(0);
    expect(hashes.converted_content.xxh128).toBe(toolDigest('xxh128', source)); // what matched the source
    expect(hashes.output_content.xxh128).toBe(await rawContentXxh128(output, 'qcow2')); // the file as it is now
    expect(hashes.output_content.xxh128).not.toBe(hashes.converted_content.xxh128);
    // validate ran in two parts around the fix; its duration is theirs only
    expect(vm.stages.validate.duration_seconds).toBeLessThan(vm.stages.fix.duration_seconds);
  }, 600_000);
});
