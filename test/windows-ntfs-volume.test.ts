// The NTFS boot-sector and $Volume reader against volumes made by ntfs-3g's own tools: mkntfs makes
// a clean volume, ntfsfix marks it dirty (as it always does without -d), ntfsinfo is the oracle for
// the flag; a "-FVE-FS-" OEM id is what BitLocker writes where NTFS writes "NTFS    ".
// Debian packages: ntfs-3g (mkntfs, ntfsfix, ntfsinfo).
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ntfsState, type ReadBytes } from '../src/guest/windows/ntfs-volume.js';
import { tempDir } from './helpers/fixtures.js';

const tmp = tempDir('windows-ntfs-volume');
afterAll(() => tmp.cleanup());

function fileReader(file: string): ReadBytes {
  return async (offset, size) => {
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(size);
      readSync(fd, buf, 0, size, offset);
      return buf;
    } finally {
      closeSync(fd);
    }
  };
}

function mkntfs(name: string, args: string[] = []): string {
  const file = join(tmp.dir, name);
  execFileSync('truncate', ['-s', '24M', file]);
  execFileSync('mkntfs', ['-F', '-Q', '-q', ...args, file], { stdio: 'ignore' });
  return file;
}

const ntfsinfoFlags = (file: string) => /Volume Flags: (0x[0-9a-f]{4})/.exec(execFileSync('ntfsinfo', ['-f', '-m', file], { encoding: 'utf8' }))![1];

describe('NTFS volume state from the boot sector and $Volume', () => {
  it('a fresh volume is clean; after ntfsfix it is dirty, as ntfsinfo says', async () => {
    for (const [name, args] of [['512.img', []], ['4k.img', ['-s', '4096', '-c', '8192']]] as const) {
      const file = mkntfs(name, [...args]);
      expect(ntfsinfoFlags(file)).toBe('0x0000');
      expect(await ntfsState(fileReader(file))).toEqual({ kind: 'ntfs', dirty: false, detail: null });
      execFileSync('ntfsfix', [file], { stdio: 'ignore' });
      expect(ntfsinfoFlags(file)).toBe('0x0001');
      expect(await ntfsState(fileReader(file))).toEqual({ kind: 'ntfs', dirty: true, detail: null });
    }
  });

  it('a BitLocker OEM id at offset 3 is reported as bitlocker; a boot sector of neither as other', async () => {
    const file = mkntfs('fve.img');
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from('-FVE-FS-', 'latin1'), 0, 8, 3);
    closeSync(fd);
    expect(await ntfsState(fileReader(file))).toEqual({ kind: 'bitlocker', dirty: null, detail: null });
    const zero = join(tmp.dir, 'zero.img');
    writeFileSync(zero, Buffer.alloc(4096));
    expect(await ntfsState(fileReader(zero))).toEqual({ kind: 'other', dirty: null, detail: null });
  });

  it('a damaged $Volume record leaves the verdict open with the reason', async () => {
    const file = mkntfs('torn.img');
    const boot = await fileReader(file)(0, 512);
    const cluster = boot.readUInt16LE(0x0b) * boot.readUInt8(0x0d);
    const at = Number(boot.readBigUInt64LE(0x30)) * cluster + 3 * 1024;
    execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1', `seek=${at}`, 'count=4', 'conv=notrunc'], { stdio: 'ignore' });
    expect(await ntfsState(fileReader(file))).toEqual({ kind: 'ntfs', dirty: null, detail: 'MFT record 3 ($Volume) has no FILE signature' });
  });
});
