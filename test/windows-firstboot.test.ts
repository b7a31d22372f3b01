// The first-boot scripts h2k writes into a Windows guest: what firstboot.cmd runs (pnputil, the
// VMware Tools uninstall, the static-IP script) and what network.ps1 re-applies, for the plan of a
// Windows 10 inspection with two static adapters.
import { describe, expect, it } from 'vitest';
import { planWindowsFix } from '../src/guest/windows/plan.js';
import type { WindowsInspection } from '../src/guest/windows/inspect-windows.js';

const TOOLS = '{4D9A8C2B-3E5F-4A61-9B1C-0D2E3F4A5B6C}';
const inspection: WindowsInspection = {
  productName: 'Windows 10 Pro', major: 10, minor: 0, build: 19045, edition: 'Professional', variant: 'Client', server: false, arch: 'x86_64',
  systemRoot: '/Windows', currentControlSet: 'ControlSet001', controlSets: ['ControlSet001'], systemHive: '/Windows/System32/config/SYSTEM',
  softwareHive: '/Windows/System32/config/SOFTWARE', drivers: [], vmwareTools: { present: true, version: '12.1.0', productCode: TOOLS },
  hibernation: { hiberfil: 'absent', hiberbootEnabled: false }, ntfs: { dirty: false, detail: null },
  staticIps: [
    { interface: '{AAAA}', addresses: ['192.168.10.30', '10.20.0.5'], masks: ['255.255.255.0', '255.255.0.0'], gateways: ['192.168.10.1'], dns: ['192.168.10.2', '192.168.10.3'] },
    { interface: '{BBBB}', addresses: ['172.16.0.9'], masks: ['255.255.0.0'], gateways: [], dns: [] },
  ],
};
const drivers = [{ name: 'viostor', dir: '/d/viostor', files: ['viostor.inf', 'viostor.sys'], os: 'w10' }, { name: 'NetKVM', dir: '/d/NetKVM', files: ['netkvm.inf'], os: 'w10' }];
const current = { cmdLine: '', setupType: 0, devicePath: null };
const text = (plan: ReturnType<typeof planWindowsFix>, name: string) => plan.files.find((f) => f.guest === `/Program Files/h2k/${name}`)?.text;

describe('Windows first-boot scripts', () => {
  it('firstboot.cmd installs the drivers, uninstalls VMware Tools by product code and runs network.ps1; network.ps1 re-applies each adapter', () => {
    const plan = planWindowsFix(inspection, drivers, 'amd64', current, true);
    expect(plan.firstboot).toEqual({ drivers: ['viostor', 'NetKVM'], removeVmwareTools: { productCode: TOOLS, version: '12.1.0' }, staticIps: inspection.staticIps });
    const cmd = text(plan, 'firstboot.cmd')!.split('\r\n');
    expect(cmd).toContain('pnputil /add-driver "%ProgramFiles%\\h2k\\drivers\\*.inf" /subdirs /install >> "%LOG%" 2>&1');
    expect(cmd).toContain(`msiexec.exe /x ${TOOLS} /qn /norestart >> "%LOG%" 2>&1`);
    expect(cmd).toContain('powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "%ProgramFiles%\\h2k\\network.ps1" >> "%LOG%" 2>&1');
    // the uninstall and the network run before Setup is reset and the marker is written
    expect(cmd.findIndex((l) => l.startsWith('msiexec'))).toBeLessThan(cmd.findIndex((l) => l.startsWith('reg add HKLM\\SYSTEM\\Setup /v SetupType')));
    expect(cmd.at(-2)).toBe('echo H2K_WINDOWS_FIRSTBOOT_DONE > COM1');
    const ps = text(plan, 'network.ps1')!.split('\r\n');
    expect(ps).toContain("  @{ Interface = '{AAAA}'; Addresses = @('192.168.10.30', '10.20.0.5'); Masks = @('255.255.255.0', '255.255.0.0'); Gateways = @('192.168.10.1'); Dns = @('192.168.10.2', '192.168.10.3') },");
    expect(ps).toContain("  @{ Interface = '{BBBB}'; Addresses = @('172.16.0.9'); Masks = @('255.255.0.0'); Gateways = @(); Dns = @() }");
    expect(ps).toContain("  $nics = @(Get-WmiObject Win32_NetworkAdapterConfiguration | Where-Object { $_.ServiceName -eq 'netkvm' -and $_.IPEnabled } | Sort-Object Index)");
    expect(ps).toContain('  $r = $n.EnableStatic([string[]]$c.Addresses, [string[]]$c.Masks).ReturnValue');
    expect(ps).toContain('  if ($c.Gateways.Count) { $r = $n.SetGateways([string[]]$c.Gateways, [uint16[]](@(1) * $c.Gateways.Count)).ReturnValue; Write-Output "h2k: SetGateways $($c.Gateways -join \',\') returned $r" }');
    expect(ps).toContain('  if ($c.Dns.Count) { $r = $n.SetDNSServerSearchOrder([string[]]$c.Dns).ReturnValue; Write-Output "h2k: SetDNSServerSearchOrder $($c.Dns -join \',\') returned $r" }');
  });

  it('remove_vmware_tools: false keeps the tools; no static IP, no network script; Windows 7 uses pnputil -i -a', () => {
    const w7 = { ...inspection, major: 6, minor: 1, build: 7601, staticIps: [] };
    const plan = planWindowsFix(w7, drivers, 'amd64', current, false);
    expect(plan.firstboot.removeVmwareTools).toBeNull();
    const cmd = text(plan, 'firstboot.cmd')!;
    expect(cmd).not.toMatch(/msiexec|powershell/);
    expect(cmd).toContain('for /r "%ProgramFiles%\\h2k\\drivers" %%f in (*.inf) do pnputil -i -a "%%f" >> "%LOG%" 2>&1');
    expect(text(plan, 'network.ps1')).toBeUndefined();
  });
});
