// The manifest fix stage on a Windows guest: fix.virtio_win (relative to the manifest) injects the
// drivers, the report lists the registry changes; the output's hive is read back with hivexget.
// Debian packages: libguestfs-tools, libhivex-bin, ntfs-3g, qemu-utils (scripts/setup-system.sh).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runH2k } from './helpers/cli.js';
import { tempDir } from './helpers/fixtures.js';
import { virtioWinTree, windowsGuestDisk } from './helpers/windows-fixtures.js';
import { hivexget, readWindowsImages } from './helpers/windows-readback.js';

const tmp = tempDir('workflow-windows-fix');
afterAll(() => tmp.cleanup());

describe('manifest fix stage on Windows', () => {
  it('fix.virtio_win injects viostor and the report lists every registry change', async () => {
    virtioWinTree(join(tmp.dir, 'drivers', 'virtio-win'));
    const manifest = join(tmp.dir, 'win.yaml');
    writeFileSync(manifest, [
      'version: "1.0"', 'name: win', 'pipeline:',
      '  load: {source_type: raw, source_path: ' + windowsGuestDisk('win2019') + '}',
      '  convert: {output_format: qcow2}',
      '  fix: {enabled: true, virtio_win: drivers/virtio-win}', '',
    ].join('\n'));
    const out = join(tmp.dir, 'out');
    const r = await runH2k(['manifest', 'run', manifest, '-o', out, '--json'], { timeout: 600_000 });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    const vm = report.vms?.[0] ?? report;
    expect(vm.stages.fix.registry_changes).toContainEqual({ hive: 'SYSTEM', key: 'ControlSet001\\Services\\vioscsi', value: 'Start', before: null, after: '0' });
    expect(vm.stages.fix.fixes_applied.map((c: { file: string }) => c.file)).toContain('/Windows/System32/drivers/vioscsi.sys');
    const [b] = readWindowsImages([join(out, 'win.qcow2')], [], join(tmp.dir, 'readback'));
    expect(hivexget(b!.system, 'ControlSet001\\Services\\vioscsi', 'ImagePath')).toBe('system32\\drivers\\vioscsi.sys');
    expect(hivexget(b!.system, 'DriverDatabase\\DriverInfFiles\\vioscsi.inf', 'Active')).toBe('vioscsi.inf_amd64_h2k');
  }, 600_000);
});
