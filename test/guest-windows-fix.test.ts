// h2k inspect and h2k fix on Windows guests: phony Windows 7 (CriticalDeviceDatabase era) and
// Windows Server 2019 (driver-store era) NTFS disks with VMware drivers and VMware Tools, a virtio-win
// tree with placeholder drivers. The fixed hives are read back with hivex's own tools.
// Debian packages: libguestfs-tools, libhivex-bin, ntfs-3g, qemu-utils (scripts/setup-system.sh).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runH2k } from './helpers/cli.js';
import { qcow2Copy } from './helpers/guest-fixtures.js';
import { IFACE_GUID, STATIC_IP, VMWARE_TOOLS_GUID, virtioWinTree, windowsGuestDisk } from './helpers/windows-fixtures.js';
import { exportKey, hivexget, readWindowsImages } from './helpers/windows-readback.js';

const APPLIANCE_MS = 600_000;
const md5 = (file: string) => createHash('md5').update(readFileSync(file)).digest('hex');
const SCSI_CLASS = '{4D36E97B-E325-11CE-BFC1-08002BE10318}';

describe('Windows guests: inspect and fix', () => {
  let dir: string;
  let tree: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'h2k-guest-windows-'));
    tree = virtioWinTree(join(dir, 'virtio-win'));
    windowsGuestDisk('win7'); // builds every variant once (cached)
  }, APPLIANCE_MS);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('inspect reports version, edition, control set, VMware drivers and tools, hibernation, static IPs', async () => {
    const source = windowsGuestDisk('win7');
    const before = md5(source);
    const r = await runH2k(['inspect', source, '--json'], { timeout: APPLIANCE_MS });
    expect(r.code, r.stderr).toBe(0);
    const i = JSON.parse(r.stdout);
    expect(i).toMatchObject({ type: 'windows', productName: 'Windows 7 Professional', version: '6.1', arch: 'x86_64', hostname: 'w7-vmware', fixable: true });
    expect(i.windows).toMatchObject({
      major: 6, minor: 1, build: 7601, edition: 'Professional', variant: 'Client', server: false, systemRoot: '/Windows',
      currentControlSet: 'ControlSet001', controlSets: ['ControlSet001', 'ControlSet002'],
      vmwareTools: { present: true, version: '11.3.5.18557794', productCode: VMWARE_TOOLS_GUID },
      hibernation: { hiberfil: 'absent', hiberbootEnabled: null },
      ntfs: { dirty: false, detail: null },
      // the DHCP adapter is not listed; the static one with both addresses, its gateway and DNS servers
      staticIps: [{ interface: IFACE_GUID, addresses: [STATIC_IP.address, STATIC_IP.address2], masks: [STATIC_IP.mask, STATIC_IP.mask2], gateways: [STATIC_IP.gateway], dns: STATIC_IP.dns }],
    });
    expect(i.windows.drivers.map((d: { name: string }) => d.name)).toEqual(['pvscsi', 'vmxnet3ndis6', 'vmci', 'vmmouse']);
    expect(i.windows.drivers[0]).toEqual({ name: 'pvscsi', start: 0, imagePath: 'system32\\DRIVERS\\pvscsi.sys' });
    expect(md5(source)).toBe(before);
  }, APPLIANCE_MS);

  it('fix injects viostor/vioscsi as boot services (CDD on Windows 7, driver store on 2019), stages the rest, first boot removes VMware Tools (unless refused) and re-applies the static IPs, is idempotent', async () => {
    const w7 = qcow2Copy(windowsGuestDisk('win7'), join(dir, 'w7.qcow2'));
    const w19 = qcow2Copy(windowsGuestDisk('win2019'), join(dir, 'w19.qcow2'));
    const sourceSum = md5(windowsGuestDisk('win7'));
    const t0 = Date.now();
    const r7 = await runH2k(['fix', w7, '--virtio-win', tree, '--json'], { timeout: APPLIANCE_MS });
    const fixSeconds = (Date.now() - t0) / 1000;
    expect(r7.code, r7.stderr).toBe(0);
    const j7 = JSON.parse(r7.stdout);
    const r19 = await runH2k(['fix', w19, '--virtio-win', tree, '--no-remove-vmware-tools', '--json'], { timeout: APPLIANCE_MS });
    expect(r19.code, r19.stderr).toBe(0);
    const j19 = JSON.parse(r19.stdout);
    console.log(`h2k fix on the Windows 7 fixture: ${fixSeconds.toFixed(1)} s (appliance start included)`);

    // every registry change is listed with hive, key, value, before, after
    expect(j7.registry).toContainEqual({ hive: 'SYSTEM', key: 'ControlSet001\\Services\\viostor', value: 'Start', before: null, after: '0' });
    expect(j7.registry).toContainEqual({ hive: 'SYSTEM', key: 'ControlSet002\\Services\\vioscsi', value: 'Group', before: null, after: 'SCSI miniport' });
    expect(j7.registry).toContainEqual({ hive: 'SYSTEM', key: 'Setup', value: 'SetupType', before: '0', after: '2' });
    // the first-boot actions: VMware Tools removed by default on Windows, kept when refused
    expect(j7.firstboot.removeVmwareTools).toEqual({ productCode: VMWARE_TOOLS_GUID, version: '11.3.5.18557794' });
    expect(j19.firstboot.removeVmwareTools).toBeNull();
    expect(j19.warnings).toContain('windows: VMware Tools is kept (remove_vmware_tools: false / --no-remove-vmware-tools)');
    for (const j of [j7, j19]) expect(j.firstboot.staticIps.map((i: { addresses: string[] }) => i.addresses)).toEqual([[STATIC_IP.address, STATIC_IP.address2]]);
    expect(j19.registry.some((c: { key: string }) => c.key.startsWith('ControlSet001\\Control\\CriticalDeviceDatabase'))).toBe(false);
    expect(j19.registry.some((c: { value: string }) => c.value === 'HiberbootEnabled')).toBe(false); // fast startup was already off

    const files = ['/Windows/System32/drivers/viostor.sys', '/Windows/System32/drivers/vioscsi.sys', '/Program Files/h2k/firstboot.cmd', '/Program Files/h2k/network.ps1',
      '/Program Files/h2k/drivers/NetKVM/netkvm.inf', '/Program Files/h2k/drivers/Balloon/balloon.sys',
      '/Windows/System32/DriverStore/FileRepository/viostor.inf_amd64_h2k/viostor.inf'];
    const [b7, b19] = readWindowsImages([w7, w19], files, join(dir, 'readback'));
    for (const [b, os, cdd] of [[b7!, 'w7', true], [b19!, '2k19', false]] as const) {
      for (const cs of cdd ? ['ControlSet001', 'ControlSet002'] : ['ControlSet001'])
        for (const drv of ['viostor', 'vioscsi']) {
          const svc = `${cs}\\Services\\${drv}`;
          expect(hivexget(b.system, svc, 'Type')).toBe('1');
          expect(hivexget(b.system, svc, 'Start')).toBe('0');
          expect(hivexget(b.system, svc, 'ErrorControl')).toBe('1');
          expect(hivexget(b.system, svc, 'Group')).toBe('SCSI miniport');
          expect(hivexget(b.system, svc, 'ImagePath')).toBe(`system32\\drivers\\${drv}.sys`);
          const cddKey = `${cs}\\Control\\CriticalDeviceDatabase\\pci#ven_1af4&dev_${drv === 'viostor' ? '1001&subsys_00021af4&rev_00' : '1004&subsys_00081af4&rev_00'}`;
          expect(hivexget(b.system, cddKey, 'Service')).toBe(cdd ? drv : null);
          expect(hivexget(b.system, cddKey, 'ClassGUID')).toBe(cdd ? SCSI_CLASS : null);
        }
      // VMware's own services are left as they were
      expect(hivexget(b.system, 'ControlSet001\\Services\\pvscsi', 'Start')).toBe('0');
      expect(hivexget(b.system, 'Setup', 'SetupType')).toBe('2');
      expect(hivexget(b.system, 'Setup', 'CmdLine')).toBe('cmd.exe /c "%SystemDrive%\\Program Files\\h2k\\firstboot.cmd"');
      expect(hivexget(b.software, 'Microsoft\\Windows\\CurrentVersion', 'DevicePath')).toBe('%SystemRoot%\\inf;%ProgramFiles%\\h2k\\drivers');
      expect(b.file('/Windows/System32/drivers/viostor.sys')).toBe(`h2k placeholder viostor/${os}/amd64/viostor.sys\n`);
      expect(b.file('/Windows/System32/drivers/vioscsi.sys')).toBe(`h2k placeholder vioscsi/${os}/amd64/vioscsi.sys\n`);
      expect(b.file('/Program Files/h2k/drivers/NetKVM/netkvm.inf')).toBe(`h2k placeholder NetKVM/${os}/amd64/netkvm.inf\n`);
      expect(b.file('/Program Files/h2k/drivers/Balloon/balloon.sys')).toBe(`h2k placeholder Balloon/${os}/amd64/balloon.sys\n`);
      const script = b.file('/Program Files/h2k/firstboot.cmd')!;
      expect(script.includes(`msiexec.exe /x ${VMWARE_TOOLS_GUID} /qn /norestart`)).toBe(cdd); // Windows 2019 was fixed with --no-remove-vmware-tools
      expect(script).toContain('powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "%ProgramFiles%\\h2k\\network.ps1"');
      expect(b.file('/Program Files/h2k/network.ps1')).toContain(
        `@{ Interface = '${IFACE_GUID}'; Addresses = @('${STATIC_IP.address}', '${STATIC_IP.address2}'); Masks = @('${STATIC_IP.mask}', '${STATIC_IP.mask2}'); Gateways = @('${STATIC_IP.gateway}'); Dns = @('${STATIC_IP.dns[0]}', '${STATIC_IP.dns[1]}') }`);
      expect(script).toContain(cdd ? 'pnputil -i -a' : 'pnputil /add-driver');
      expect(script).toContain('reg add HKLM\\SYSTEM\\Setup /v SetupType /t REG_DWORD /d 0 /f');
    }
    // driver-store era: the package and the DriverDatabase binding the virtio PCI ids
    expect(b7!.file('/Windows/System32/DriverStore/FileRepository/viostor.inf_amd64_h2k/viostor.inf')).toBeNull();
    expect(b19!.file('/Windows/System32/DriverStore/FileRepository/viostor.inf_amd64_h2k/viostor.inf')).toBe('h2k placeholder viostor/2k19/amd64/viostor.inf\n');
    const db = exportKey(b19!.system, 'HKEY_LOCAL_MACHINE\\SYSTEM', 'DriverDatabase');
    expect(db).toContain('[HKEY_LOCAL_MACHINE\\SYSTEM\\DriverDatabase\\DeviceIds\\PCI\\VEN_1AF4&DEV_1001&SUBSYS_00021AF4&REV_00]\n"viostor.inf"=hex(3):01,ff,00');
    expect(db).toContain('[HKEY_LOCAL_MACHINE\\SYSTEM\\DriverDatabase\\DeviceIds\\PCI\\VEN_1AF4&DEV_1048&SUBSYS_11001AF4&REV_01]\n"vioscsi.inf"=hex(3):01,ff,00');
    expect(hivexget(b19!.system, 'DriverDatabase\\DriverInfFiles\\viostor.inf', 'Active')).toBe('viostor.inf_amd64_h2k');

    // a second run changes nothing; the source disk was never touched
    const again = await runH2k(['fix', w7, '--virtio-win', tree, '--json'], { timeout: APPLIANCE_MS });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ changes: [], registry: [] });
    expect(md5(windowsGuestDisk('win7'))).toBe(sourceSum);

    // validate --boot: qemu runs the fixed disk on virtio-blk + virtio-net (no Windows to reach the marker)
    const boot = await runH2k(['validate', '--boot', w19, '--timeout', '20', '--json'], { timeout: APPLIANCE_MS });
    expect(boot.code, boot.stderr).toBe(1);
    const b = JSON.parse(boot.stdout);
    expect(b).toMatchObject({ passed: false, mode: 'windows', marker: null });
    expect(b.devices).toEqual(expect.arrayContaining(['1af4:1001', '1af4:1000']));
    expect(b.reason).toBe('no H2K_WINDOWS_FIRSTBOOT_DONE within 20s (qemu ran the disk on virtio-blk with virtio-net)');
  }, APPLIANCE_MS * 6);
});
