// The Windows fix as data: the registry edits (SYSTEM and SOFTWARE) and the files to place, worked
// out from the inspection and the chosen drivers before anything is written.
import { join } from 'node:path';
import { FIRSTBOOT_DIR, firstbootScript, NETWORK_SCRIPT, staticIpScript, type WindowsFirstboot } from './firstboot.js';
import type { WindowsInspection } from './inspect-windows.js';
import type { RegEdit } from './registry.js';
import { usesCriticalDeviceDatabase } from './versions.js';
import type { DriverSet } from './virtio-win.js';

const SCSI_CLASS = '{4D36E97B-E325-11CE-BFC1-08002BE10318}';
/** virtio PCI ids (vendor 1AF4): transitional and modern block / SCSI devices, as subsys + rev. */
const PCI_IDS: Record<string, [string, string, string][]> = {
  viostor: [['1001', '00021AF4', '00'], ['1042', '11001AF4', '01']],
  vioscsi: [['1004', '00081AF4', '00'], ['1048', '11001AF4', '01']],
};

export interface PlannedFile { guest: string; local?: string; text?: string; kind: 'windows-driver' | 'windows-firstboot' }
export interface WindowsPlan { system: RegEdit[]; software: RegEdit[]; files: PlannedFile[]; era: 'critical-device-database' | 'driver-store'; firstboot: WindowsFirstboot }

const dword = (data: number) => ({ type: 'dword' as const, data });
const sz = (data: string) => ({ type: 'sz' as const, data });

export function planWindowsFix(
  w: WindowsInspection, drivers: DriverSet[], arch: string, current: { cmdLine: string; setupType: number; devicePath: string | null },
  removeVmwareTools: boolean,
): WindowsPlan {
  const cdd = usesCriticalDeviceDatabase(w);
  const boot = drivers.filter((d) => d.name in PCI_IDS);
  const system: RegEdit[] = [];
  const files: PlannedFile[] = [];
  for (const cs of w.controlSets) {
    for (const d of boot) {
      const svc = `${cs}\\Services\\${d.name}`;
      system.push(
        { key: svc, name: 'Type', value: dword(1) },
        { key: svc, name: 'Start', value: dword(0) },
        { key: svc, name: 'ErrorControl', value: dword(1) },
        { key: svc, name: 'Group', value: sz('SCSI miniport') },
        { key: svc, name: 'ImagePath', value: { type: 'expand_sz', data: `system32\\drivers\\${d.name}.sys` } },
        { key: `${svc}\\Parameters\\PnpInterface`, name: '5', value: dword(1) },
      );
      if (cdd)
        for (const [dev, subsys, rev] of PCI_IDS[d.name]!)
          for (const id of [`pci#ven_1af4&dev_${dev}&subsys_${subsys}&rev_${rev}`, `pci#ven_1af4&dev_${dev}&subsys_${subsys}`, `pci#ven_1af4&dev_${dev}`]) {
            const k = `${cs}\\Control\\CriticalDeviceDatabase\\${id.toLowerCase()}`;
            system.push({ key: k, name: 'Service', value: sz(d.name) }, { key: k, name: 'ClassGUID', value: sz(SCSI_CLASS) });
          }
    }
    // fast startup leaves the volume hibernated at every shutdown: off, so later offline edits stay safe
    if (w.hibernation.hiberbootEnabled) system.push({ key: `${cs}\\Control\\Session Manager\\Power`, name: 'HiberbootEnabled', value: dword(0) });
  }
  for (const d of boot) {
    files.push({ guest: `${w.systemRoot}/System32/drivers/${d.name}.sys`, local: join(d.dir, d.files.find((f) => f.toLowerCase() === `${d.name}.sys`) ?? `${d.name}.sys`), kind: 'windows-driver' });
    if (!cdd) {
      // driver-store era: the package in the FileRepository and the DriverDatabase binding its PCI ids
      const pkg = `${d.name}.inf_${arch}_h2k`;
      for (const f of d.files) files.push({ guest: `${w.systemRoot}/System32/DriverStore/FileRepository/${pkg}/${f}`, local: join(d.dir, f), kind: 'windows-driver' });
      system.push(
        { key: `DriverDatabase\\DriverInfFiles\\${d.name}.inf`, name: '', value: { type: 'multi_sz', data: [pkg] } },
        { key: `DriverDatabase\\DriverInfFiles\\${d.name}.inf`, name: 'Active', value: sz(pkg) },
        { key: `DriverDatabase\\DriverPackages\\${pkg}`, name: '', value: sz(`${d.name}.inf`) },
        { key: `DriverDatabase\\DriverPackages\\${pkg}`, name: 'Provider', value: sz('Red Hat, Inc.') },
      );
      for (const [dev, subsys, rev] of PCI_IDS[d.name]!)
        system.push({ key: `DriverDatabase\\DeviceIds\\PCI\\VEN_1AF4&DEV_${dev}&SUBSYS_${subsys}&REV_${rev}`, name: `${d.name}.inf`, value: { type: 'binary', data: Buffer.from([1, 0xff, 0]) } });
    }
  }
  for (const d of drivers)
    for (const f of d.files) files.push({ guest: `${FIRSTBOOT_DIR}/drivers/${d.name}/${f}`, local: join(d.dir, f), kind: 'windows-driver' });

  const tools = w.vmwareTools.productCode && removeVmwareTools ? { productCode: w.vmwareTools.productCode, version: w.vmwareTools.version } : null;
  const firstboot: WindowsFirstboot = { drivers: drivers.map((d) => d.name), removeVmwareTools: tools, staticIps: w.staticIps };
  if (w.staticIps.length) files.push({ guest: `${FIRSTBOOT_DIR}/${NETWORK_SCRIPT}`, kind: 'windows-firstboot', text: staticIpScript(w.staticIps) });
  files.push({
    guest: `${FIRSTBOOT_DIR}/firstboot.cmd`, kind: 'windows-firstboot',
    text: firstbootScript({
      modernPnputil: w.major >= 10, firstboot,
      // a second run finds our own command there: restore what an installed system has
      restoreSetup: current.cmdLine.includes('h2k') ? { cmdLine: '', setupType: 0 } : { cmdLine: current.cmdLine, setupType: current.setupType },
    }),
  });
  system.push(
    { key: 'Setup', name: 'CmdLine', value: sz('cmd.exe /c "%SystemDrive%\\Program Files\\h2k\\firstboot.cmd"') },
    { key: 'Setup', name: 'SetupType', value: dword(2) },
  );
  const ours = '%ProgramFiles%\\h2k\\drivers';
  const devicePath = current.devicePath ?? '%SystemRoot%\\inf';
  const software: RegEdit[] = devicePath.split(';').includes(ours) ? []
    : [{ key: 'Microsoft\\Windows\\CurrentVersion', name: 'DevicePath', value: { type: 'expand_sz', data: `${devicePath};${ours}` } }];
  return { system, software, files, era: cdd ? 'critical-device-database' : 'driver-store', firstboot };
}
