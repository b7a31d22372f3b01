// The pieces of the Windows fix that need no appliance: which virtio-win directory serves which
// Windows, and the .reg text h2k merges, read back by hivex's own hivexget (the independent reader).
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { mergeEdits, readKey, readValue, type RegEdit } from '../src/guest/windows/registry.js';
import { usesCriticalDeviceDatabase, virtioWinArch, virtioWinDirs } from '../src/guest/windows/versions.js';
import { hivexget } from './helpers/windows-readback.js';

const MINIMAL_HIVE = join(dirname(fileURLToPath(import.meta.url)), 'data/windows/minimal-hive');
const dir = mkdtempSync(join(tmpdir(), 'h2k-windows-registry-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('virtio-win directory per Windows version', () => {
  it.each([
    [{ major: 6, minor: 1, build: 7601, server: false }, ['w7'], true],
    [{ major: 6, minor: 1, build: 7601, server: true }, ['2k8R2', 'w7'], true],
    [{ major: 6, minor: 3, build: 9600, server: true }, ['2k12R2', 'w8.1'], false],
    [{ major: 10, minor: 0, build: 19045, server: false }, ['w10'], false],
    [{ major: 10, minor: 0, build: 22631, server: false }, ['w11', 'w10'], false],
    [{ major: 10, minor: 0, build: 14393, server: true }, ['2k16'], false],
    [{ major: 10, minor: 0, build: 17763, server: true }, ['2k19', '2k16'], false],
    [{ major: 10, minor: 0, build: 20348, server: true }, ['2k22'], false],
    [{ major: 5, minor: 1, build: 2600, server: false }, [], true],
  ])('%o -> %o', (v, dirs, cdd) => {
    expect(virtioWinDirs(v)).toEqual(dirs);
    expect(usesCriticalDeviceDatabase(v)).toBe(cdd);
  });
  it('maps libguestfs architectures to virtio-win directories', () => {
    expect([virtioWinArch('x86_64'), virtioWinArch('i386'), virtioWinArch('aarch64'), virtioWinArch(null)]).toEqual(['amd64', 'x86', 'ARM64', null]);
  });
});

describe('registry edits through hivexregedit', () => {
  it('creates the missing keys and writes every value type as hivexget reads it back', async () => {
    const hive = join(dir, 'SYSTEM');
    copyFileSync(MINIMAL_HIVE, hive);
    const edits: RegEdit[] = [
      { key: 'ControlSet001\\Services\\viostor', name: 'Start', value: { type: 'dword', data: 0 } },
      { key: 'ControlSet001\\Services\\viostor', name: 'Group', value: { type: 'sz', data: 'SCSI miniport' } },
      { key: 'ControlSet001\\Services\\viostor', name: 'ImagePath', value: { type: 'expand_sz', data: 'system32\\drivers\\viostor.sys' } },
      { key: 'ControlSet001\\Control\\CriticalDeviceDatabase\\pci#ven_1af4&dev_1001', name: 'Service', value: { type: 'sz', data: 'viostor "quoted"' } },
      { key: 'DriverDatabase\\DriverInfFiles\\viostor.inf', name: '', value: { type: 'multi_sz', data: ['a', 'b c'] } },
      { key: 'DriverDatabase\\DeviceIds\\PCI\\VEN_1AF4&DEV_1001', name: 'viostor.inf', value: { type: 'binary', data: Buffer.from([1, 0xff, 0]) } },
    ];
    await mergeEdits(hive, 'HKEY_LOCAL_MACHINE\\SYSTEM', edits, join(dir, 'edits.reg'));
    expect(hivexget(hive, 'ControlSet001\\Services\\viostor', 'Start')).toBe('0');
    expect(hivexget(hive, 'ControlSet001\\Services\\viostor', 'Group')).toBe('SCSI miniport');
    expect(hivexget(hive, 'ControlSet001\\Services\\viostor', 'ImagePath')).toBe('system32\\drivers\\viostor.sys');
    expect(hivexget(hive, 'ControlSet001\\Control\\CriticalDeviceDatabase\\pci#ven_1af4&dev_1001', 'Service')).toBe('viostor "quoted"');
    expect(hivexget(hive, 'DriverDatabase\\DriverInfFiles\\viostor.inf', '@')).toBe('a\nb c');
    expect((await readKey(hive, 'DriverDatabase\\DeviceIds\\PCI\\VEN_1AF4&DEV_1001'))!.get('viostor.inf')).toBe('hex(3):01,ff,00');
    expect(await readValue(hive, 'ControlSet001\\Services\\nothere', 'Start')).toBeNull();
    expect(await readKey(hive, 'ControlSet001\\Services\\nothere')).toBeNull();
  });

  it('a truncated hive is E_GUEST_WINDOWS_HIVE, not a missing key', async () => {
    const hive = join(dir, 'cut');
    copyFileSync(MINIMAL_HIVE, hive);
    const { truncateSync } = await import('node:fs');
    truncateSync(hive, 3000);
    await expect(readKey(hive, 'Select')).rejects.toMatchObject({ code: 'E_GUEST_WINDOWS_HIVE' });
  });
});
