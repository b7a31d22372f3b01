// hyper2kvm's Windows keys in the real watch-folder daemon: a phony Windows 7 guest dropped as a
// VMDK with virtio_drivers_dir set is converted and gets the virtio drivers (report.json lists the
// registry changes; the output's SYSTEM hive is read back with hivexget); the source is untouched.
// virtio_drivers_dir is relative: the daemon runs in the repository, so only a path resolved
// against the config file's directory finds the tree.
// Debian packages: libguestfs-tools, libhivex-bin, ntfs-3g, qemu-utils (scripts/setup-system.sh).
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qemuImg } from './helpers/fixtures.js';
import { daemonTestScope } from './helpers/daemon-harness.js';
import { virtioWinTree, windowsGuestDisk } from './helpers/windows-fixtures.js';
import { hivexget, readWindowsImages } from './helpers/windows-readback.js';
import { localDate } from '../src/util/local-date.js';

const APPLIANCE_MS = 600_000;
const { fx, start } = daemonTestScope('daemon-windows-fx');
const md5 = (file: string) => createHash('md5').update(readFileSync(file)).digest('hex');

describe('watch folder: Windows guests', () => {
  it('virtio_drivers_dir (relative to the config file): a dropped Windows VMDK comes out with viostor as a boot service', async () => {
    const tree = virtioWinTree(join(fx.dir, 'virtio-win'));
    const vmdk = join(fx.dir, 'win7.vmdk');
    qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', windowsGuestDisk('win7'), vmdk]);
    const sourceMd5 = md5(vmdk);
    expect(tree).toBe(join(fx.dir, 'virtio-win'));
    const h = await start({ reuse: { root: fx.dir }, config: { win_virtio: true, virtio_drivers_dir: 'virtio-win', archive_processed: true } });
    copyFileSync(vmdk, join(h.watchDir, 'win7.vmdk'));
    const done = await h.waitForEvent('job_succeeded', undefined, APPLIANCE_MS);
    const dir = join(h.outputDir, localDate(), 'win7');
    expect(done.output).toBe(join(dir, 'win7.qcow2'));
    const r = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    expect(r.guest_fix).toMatchObject({ requested_by: ['win_virtio', 'virtio_drivers_dir'], os: { type: 'windows', version: '6.1' } });
    expect(r.guest_fix.registry_changes).toContainEqual({ hive: 'SYSTEM', key: 'ControlSet001\\Services\\viostor', value: 'Start', before: null, after: '0' });
    const [b] = readWindowsImages([join(dir, 'win7.qcow2')], ['/Windows/System32/drivers/viostor.sys'], join(fx.dir, 'readback'));
    expect(hivexget(b!.system, 'ControlSet001\\Services\\viostor', 'Start')).toBe('0');
    expect(hivexget(b!.system, 'ControlSet001\\Control\\CriticalDeviceDatabase\\pci#ven_1af4&dev_1001', 'Service')).toBe('viostor');
    expect(b!.file('/Windows/System32/drivers/viostor.sys')).toBe('h2k placeholder viostor/w7/amd64/viostor.sys\n');
    expect(md5(join(h.watchDir, '.processed', localDate(), 'win7.vmdk'))).toBe(sourceMd5);
  }, APPLIANCE_MS * 2);
});
