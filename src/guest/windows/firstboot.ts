// The first-boot action: a batch script Windows runs once, as SYSTEM, before the logon screen
// (HKLM\SYSTEM\Setup CmdLine with SetupType 2), that installs the staged drivers with pnputil,
// removes VMware Tools, re-applies static IPs, resets Setup and reports on COM1.
import type { StaticIp } from './inspect-windows.js';

export const FIRSTBOOT_DIR = '/Program Files/h2k';          // guest path; C:\Program Files\h2k
export const FIRSTBOOT_WIN_DIR = '%ProgramFiles%\\h2k';
export const FIRSTBOOT_MARKER = 'H2K_WINDOWS_FIRSTBOOT_DONE';
export const NETWORK_SCRIPT = 'network.ps1';

/** What the first boot will do, as the fix result reports it. */
export interface WindowsFirstboot {
  drivers: string[];                                                   // staged drivers pnputil installs
  removeVmwareTools: { productCode: string; version: string | null } | null;
  staticIps: StaticIp[];                                               // re-applied to the virtio adapters, in order
}

export interface FirstbootInput {
  modernPnputil: boolean;              // pnputil /add-driver (Windows 10 1607+), else pnputil -i -a
  firstboot: WindowsFirstboot;
  restoreSetup: { cmdLine: string; setupType: number };
}

export function firstbootScript(i: FirstbootInput): string {
  const add = i.modernPnputil
    ? `pnputil /add-driver "${FIRSTBOOT_WIN_DIR}\\drivers\\*.inf" /subdirs /install >> "%LOG%" 2>&1`
    : `for /r "${FIRSTBOOT_WIN_DIR}\\drivers" %%f in (*.inf) do pnputil -i -a "%%f" >> "%LOG%" 2>&1`;
  const lines = [
    '@echo off',
    'rem h2k first boot: install the staged virtio drivers, remove VMware Tools, re-apply static IPs, report on COM1.',
    `set LOG=${FIRSTBOOT_WIN_DIR}\\firstboot.log`,
    'echo h2k first boot %DATE% %TIME% >> "%LOG%"',
    add,
  ];
  const tools = i.firstboot.removeVmwareTools;
  if (tools) lines.push(`rem VMware Tools ${tools.version ?? ''}: its own MSI uninstall, no reboot until the script is done`,
    `msiexec.exe /x ${tools.productCode} /qn /norestart >> "%LOG%" 2>&1`);
  if (i.firstboot.staticIps.length)
    lines.push('rem static IPv4 of the VMware adapters, given to the virtio (netkvm) adapters',
      `powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "${FIRSTBOOT_WIN_DIR}\\${NETWORK_SCRIPT}" >> "%LOG%" 2>&1`);
  lines.push(
    `reg add HKLM\\SYSTEM\\Setup /v SetupType /t REG_DWORD /d ${i.restoreSetup.setupType} /f >> "%LOG%" 2>&1`,
    `reg add HKLM\\SYSTEM\\Setup /v CmdLine /t REG_SZ /d "${i.restoreSetup.cmdLine}" /f >> "%LOG%" 2>&1`,
    'mode COM1: BAUD=115200 PARITY=N DATA=8 STOP=1 > nul 2>&1',
    `echo ${FIRSTBOOT_MARKER} > COM1`,
    '',
  );
  return lines.join('\r\n');
}

const psList = (xs: string[]) => `@(${xs.map((x) => `'${x}'`).join(', ')})`;

/**
 * PowerShell (2.0 and later: WMI, no NetAdapter cmdlets, so Windows 7 / 2008 R2 run it too) that
 * waits for the netkvm adapters pnputil has just installed and gives the i-th recorded static
 * configuration to the i-th of them: addresses and masks, gateways, DNS servers.
 * Only dotted IPv4 addresses reach it (inspection drops anything else).
 */
export function staticIpScript(ips: StaticIp[]): string {
  const configs = ips.map((ip) =>
    `  @{ Interface = '${ip.interface.replace(/[^{}A-Za-z0-9-]/g, '')}'; Addresses = ${psList(ip.addresses)}; Masks = ${psList(ip.masks)}; Gateways = ${psList(ip.gateways)}; Dns = ${psList(ip.dns)} }`);
  return [
    '# h2k first boot: the static IPv4 configuration the VMware adapters had, re-applied to the virtio adapters.',
    '$configs = @(',
    configs.join(',\r\n'),
    ')',
    '$deadline = (Get-Date).AddSeconds(180)',
    'do {',
    "  $nics = @(Get-WmiObject Win32_NetworkAdapterConfiguration | Where-Object { $_.ServiceName -eq 'netkvm' -and $_.IPEnabled } | Sort-Object Index)",
    '  if ($nics.Count -ge $configs.Count) { break }',
    '  Start-Sleep -Seconds 3',
    '} while ((Get-Date) -lt $deadline)',
    'for ($i = 0; $i -lt $configs.Count; $i++) {',
    '  $c = $configs[$i]',
    '  if ($i -ge $nics.Count) { Write-Output "h2k: no virtio adapter came up for the static IP of $($c.Interface)"; continue }',
    '  $n = $nics[$i]',
    '  $r = $n.EnableStatic([string[]]$c.Addresses, [string[]]$c.Masks).ReturnValue',
    '  Write-Output "h2k: $($c.Interface) -> $($n.Description): EnableStatic $($c.Addresses -join \',\') returned $r"',
    '  if ($c.Gateways.Count) { $r = $n.SetGateways([string[]]$c.Gateways, [uint16[]](@(1) * $c.Gateways.Count)).ReturnValue; Write-Output "h2k: SetGateways $($c.Gateways -join \',\') returned $r" }',
    '  if ($c.Dns.Count) { $r = $n.SetDNSServerSearchOrder([string[]]$c.Dns).ReturnValue; Write-Output "h2k: SetDNSServerSearchOrder $($c.Dns -join \',\') returned $r" }',
    '}',
    '',
  ].join('\r\n');
}
