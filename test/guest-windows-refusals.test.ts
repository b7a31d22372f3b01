// What h2k fix refuses on Windows guests, with a code and a hint, leaving the image as it was:
// hibernation / fast startup, a BitLocker-locked volume, a dirty NTFS, a virtio-win tree without the
// guest's version, no tree at all, a corrupt hive, a missing control set; and --dry-run, which lists
// every change and writes nothing. The BitLocker and dirty disks are the cached fixture changed on
// the host (no extra appliance): a -FVE-FS- OEM id written over NTFS's, ntfsfix's dirty bit.
// Debian packages: libguestfs-tools, libhivex-bin, ntfs-3g, qemu-utils (scripts/setup-system.sh).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runH2k } from './helpers/cli.js';
import { qcow2Copy } from './helpers/guest-fixtures.js';
import { alteredWindowsDisk, STATIC_IP, VMWARE_TOOLS_GUID, virtioWinIso, virtioWinTree, windowsGuestDisk, type WindowsVariant } from './helpers/windows-fixtures.js';

const APPLIANCE_MS = 600_000;
const md5 = (file: string) => createHash('md5').update(readFileSync(file)).digest('hex');

describe('Windows guests: refusals and dry run', () => {
  let dir: string;
  let tree: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'h2k-guest-windows-refusals-'));
    tree = virtioWinTree(join(dir, 'virtio-win'));
    windowsGuestDisk('win7'); // builds every variant once (cached)
  }, APPLIANCE_MS);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function refused(variant: WindowsVariant | { raw: string }, args: string[], code: string, message: RegExp): Promise<{ hint: string }> {
    const raw = typeof variant === 'string' ? windowsGuestDisk(variant) : variant.raw;
    const image = qcow2Copy(raw, join(dir, `${typeof variant === 'string' ? variant : 'altered'}.qcow2`));
    const before = md5(image);
    const r = await runH2k(['fix', image, ...args, '--json'], { timeout: APPLIANCE_MS });
    expect(r.code, r.stderr).toBe(1);
    const { error } = JSON.parse(r.stdout);
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    expect(error.hint).toBeTruthy();
    expect(md5(image)).toBe(before);
    return error;
  }

  it('a hibernated / fast-started volume is refused (E_GUEST_WINDOWS_HIBERNATED)', () =>
    refused('win10-hibernated', ['--virtio-win', tree], 'E_GUEST_WINDOWS_HIBERNATED', /hibernated \(fast startup is on/), APPLIANCE_MS);

  it('a BitLocker-locked volume: inspect says so, fix refuses (E_GUEST_WINDOWS_BITLOCKER) with the way out', async () => {
    const raw = alteredWindowsDisk('win7', 'bitlocker', join(dir, 'bitlocker.raw'));
    const r = await runH2k(['inspect', raw, '--json'], { timeout: APPLIANCE_MS });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ type: 'windows', bitlocker: ['/dev/sda1'], fixable: false, notFixableCode: 'E_GUEST_WINDOWS_BITLOCKER' });
    const error = await refused({ raw }, ['--virtio-win', tree], 'E_GUEST_WINDOWS_BITLOCKER', /\/dev\/sda1 is BitLocker-encrypted \(its boot sector carries the -FVE-FS- signature\)/);
    expect(error.hint).toMatch(/decrypt the volume in the guest before exporting it \(manage-bde -off C:/);
  }, APPLIANCE_MS * 2);

  it('a volume with the NTFS dirty bit (set by ntfsfix) is refused (E_GUEST_WINDOWS_DIRTY)', async () => {
    const raw = alteredWindowsDisk('win2019', 'dirty', join(dir, 'dirty.raw'));
    const error = await refused({ raw }, ['--virtio-win', tree], 'E_GUEST_WINDOWS_DIRTY', /the NTFS volume is marked dirty/);
    expect(error.hint).toMatch(/chkdsk C: \/f/);
  }, APPLIANCE_MS);

  it('a virtio-win tree without the guest\'s version is refused (E_GUEST_WINDOWS_NO_DRIVER); no tree at all too', async () => {
    const oldTree = virtioWinTree(join(dir, 'virtio-win-w7-only'), ['w7']);
    await refused('win2019', ['--virtio-win', oldTree], 'E_GUEST_WINDOWS_NO_DRIVER', /no viostor for Windows Server 2019 Standard \(looked for viostor\/2k19\/amd64, viostor\/2k16\/amd64\)/);
    await refused('win2019', [], 'E_GUEST_WINDOWS_VIRTIO_WIN', /needs the virtio-win drivers/);
  }, APPLIANCE_MS * 2);

  it('a corrupt hive (E_GUEST_WINDOWS_HIVE) and a missing control set (E_GUEST_WINDOWS_CONTROL_SET) are refused', async () => {
    await refused('win2019-corrupt-hive', ['--virtio-win', tree], 'E_GUEST_WINDOWS_HIVE', /registry hive/);
    await refused('win2019-no-control-set', ['--virtio-win', tree], 'E_GUEST_WINDOWS_CONTROL_SET', /Select\\Current = 2\) does not exist; the hive has ControlSet001/);
  }, APPLIANCE_MS * 2);

  it('validate --boot refuses a Windows image that was not fixed (E_GUEST_WINDOWS_NO_DRIVER)', async () => {
    const image = qcow2Copy(windowsGuestDisk('win7'), join(dir, 'unfixed.qcow2'));
    const r = await runH2k(['validate', '--boot', image, '--timeout', '20', '--json'], { timeout: APPLIANCE_MS });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'E_GUEST_WINDOWS_NO_DRIVER', message: expect.stringMatching(/no viostor boot-start service/) });
  }, APPLIANCE_MS);

  it('--dry-run with the virtio-win ISO lists the registry and file changes and writes nothing', async () => {
    const image = qcow2Copy(windowsGuestDisk('win2019'), join(dir, 'dry.qcow2'));
    const before = md5(image);
    const iso = virtioWinIso(tree, join(dir, 'virtio-win.iso'));
    const r = await runH2k(['fix', image, '--virtio-win', iso, '--dry-run', '--json'], { timeout: APPLIANCE_MS });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.dryRun).toBe(true);
    expect(j.registry).toContainEqual({ hive: 'SYSTEM', key: 'ControlSet001\\Services\\viostor', value: 'ImagePath', before: null, after: 'system32\\drivers\\viostor.sys' });
    expect(j.registry).toContainEqual({ hive: 'SOFTWARE', key: 'Microsoft\\Windows\\CurrentVersion', value: 'DevicePath', before: null, after: '%SystemRoot%\\inf;%ProgramFiles%\\h2k\\drivers' });
    // the driver was read out of the ISO (through a second read-only appliance): its bytes are the tree's
    const viostor = j.changes.find((c: { file: string }) => c.file === '/Windows/System32/drivers/viostor.sys');
    const sum = createHash('sha256').update(readFileSync(join(tree, 'viostor/2k19/amd64/viostor.sys'))).digest('hex').slice(0, 16);
    expect(viostor).toMatchObject({ before: null, kind: 'windows-driver', after: expect.stringMatching(new RegExp(`sha256 ${sum}\\) from .*/viostor/2k19/amd64/viostor\\.sys$`)) });
    expect(j.changes.find((c: { file: string }) => c.file === '/Program Files/h2k/firstboot.cmd')).toMatchObject({ kind: 'windows-firstboot', before: null });
    expect(j.changes.find((c: { file: string }) => c.file === '/Program Files/h2k/network.ps1')).toMatchObject({ kind: 'windows-firstboot', before: null });
    // what the first boot would do: VMware Tools uninstalled (the Windows default), the static adapter re-applied
    expect(j.firstboot).toEqual({
      drivers: ['viostor', 'vioscsi', 'NetKVM', 'Balloon', 'vioserial'],
      removeVmwareTools: { productCode: VMWARE_TOOLS_GUID, version: '11.3.5.18557794' },
      staticIps: [{ interface: expect.any(String), addresses: [STATIC_IP.address, STATIC_IP.address2], masks: [STATIC_IP.mask, STATIC_IP.mask2], gateways: [STATIC_IP.gateway], dns: STATIC_IP.dns }],
    });
    expect(j.warnings).toContain(`network: static ${STATIC_IP.address}/${STATIC_IP.mask}, ${STATIC_IP.address2}/${STATIC_IP.mask2} gateway ${STATIC_IP.gateway} dns ${STATIC_IP.dns.join(', ')} of adapter ${j.firstboot.staticIps[0].interface} is re-applied by the first-boot action to virtio adapter 1`);
    expect(md5(image)).toBe(before);
  }, APPLIANCE_MS);
});
