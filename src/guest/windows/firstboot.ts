// The first-boot action: a batch script Windows runs once, as SYSTEM, before the logon screen
// (HKLM\SYSTEM\Setup CmdLine with SetupType 2), that installs the staged drivers with pnputil,
// removes VMware Tools, re-applies static IPs, resets Setup and reports on COM1.
import type { StaticIp } from './inspect-windows.js';

export const FIRSTBOOT_DIR = '/Program Files/h2k';          // guest path; C:\Program Files\h2k
export const FIRSTBOOT_WIN_DIR = '%ProgramFiles%\\h2k';
export const FIRSTBOOT_MARKER = 'H2K_WINDOWS_FIRSTBOOT_DONE';

export interface FirstbootInput {
  modernPnputil: boolean;              // pnputil /add-driver (Windows 10 1607+), else pnputil -i -a
  vmwareToolsProductCode: string | null;
  staticIps: StaticIp[];
  restoreSetup: { cmdLine: string; setupType: number };
}

export function firstbootScript(i: FirstbootInput): string {
  const add = i.modernPnputil
    ? `pnputil /add-driver "${FIRSTBOOT_WIN_DIR}\\drivers\\*.inf" /subdirs /install >> "%LOG%" 2>&1`
    : `for /r "${FIRSTBOOT_WIN_DIR}\\drivers" %%f in (*.inf) do pnputil -i -a "%%f" >> "%LOG%" 2>&1`;
  const lines = [
    '@echo off',
    'rem h2k first boot: install the staged virtio drivers, remove VMware Tools, report on COM1.',
    `set LOG=${FIRSTBOOT_WIN_DIR}\\firstboot.log`,
    'echo h2k first boot %DATE% %TIME% >> "%LOG%"',
    add,
  ];
  if (i.vmwareToolsProductCode) lines.push(`msiexec.exe /x ${i.vmwareToolsProductCode} /qn /norestart >> "%LOG%" 2>&1`);
  for (const ip of i.staticIps) {
    // the old adapter is gone: give its addresses to the first connected virtio adapter
    const gw = ip.gateways[0] ? ` ${ip.gateways[0]}` : '';
    lines.push(`rem static IP of ${ip.interface}`,
      `for /f "skip=3 tokens=3*" %%a in ('netsh interface show interface') do if "%%a"=="Connected" netsh interface ip set address name="%%b" static ${ip.addresses[0]} ${ip.masks[0] ?? '255.255.255.0'}${gw} >> "%LOG%" 2>&1`);
  }
  lines.push(
    `reg add HKLM\\SYSTEM\\Setup /v SetupType /t REG_DWORD /d ${i.restoreSetup.setupType} /f >> "%LOG%" 2>&1`,
    `reg add HKLM\\SYSTEM\\Setup /v CmdLine /t REG_SZ /d "${i.restoreSetup.cmdLine}" /f >> "%LOG%" 2>&1`,
    'mode COM1: BAUD=115200 PARITY=N DATA=8 STOP=1 > nul 2>&1',
    `echo ${FIRSTBOOT_MARKER} > COM1`,
    '',
  );
  return lines.join('\r\n');
}
