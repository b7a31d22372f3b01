// VMDK snapshot chains (delta disks with parentFileNameHint) read through to their parents:
// qemu-img builds the chain, qemu-img compare is the oracle; a stale parent CID, a missing
// parent and a parent outside the image directory fail with stable codes.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNativeTool } from './helpers/native-tool.js';
import { MiB, qemuCompare, qemuImg, seededBytes, writeSparseRaw } from './helpers/vmdk-fixtures.js';

let dir: string;
let src: string;
const SIZE = 24 * MiB + 1536;

function qemuIo(image: string, cmds: string[]): void {
  execFileSync('qemu-io', ['-f', 'vmdk', ...cmds.flatMap((c) => ['-c', c]), image], { stdio: 'ignore' });
}

function expectSameAsQemu(image: string): void {
  const out = join(dir, `out-${Math.random().toString(36).slice(2)}.raw`);
  const r = runNativeTool(['cat', image, out]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const cmp = qemuCompare(image, 'vmdk', out, 'raw');
  expect(cmp.output).toContain('identical');
  rmSync(out);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'h2k-chains-'));
  src = writeSparseRaw(join(dir, 'src.raw'), SIZE, [
    { offset: 0, bytes: seededBytes(2 * MiB, 41) },
    { offset: 12 * MiB, bytes: seededBytes(MiB, 42) },
    { offset: SIZE - 512, bytes: seededBytes(512, 43) },
  ]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('VMDK snapshot chains', () => {
  it('reads a three-level chain (monolithicSparse base, sparse delta, split-sparse delta) like qemu', () => {
    const chain = join(dir, 'chain');
    mkdirSync(chain);
    qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vmdk', src, join(chain, 'base.vmdk')]);
    qemuImg(['create', '-q', '-f', 'vmdk', '-b', 'base.vmdk', '-F', 'vmdk', join(chain, 'snap1.vmdk')]);
    qemuIo(join(chain, 'snap1.vmdk'), ['write -P 0x41 1M 64k', 'write -P 0x42 13M 4k', `write -P 0x45 ${SIZE - 4096} 4k`]);
    qemuImg(['create', '-q', '-f', 'vmdk', '-o', 'subformat=twoGbMaxExtentSparse', '-b', 'snap1.vmdk', '-F', 'vmdk', join(chain, 'snap2.vmdk')]);
    qemuIo(join(chain, 'snap2.vmdk'), ['write -P 0x43 1M 4k', 'write -P 0x44 20M 128k']);
    expectSameAsQemu(join(chain, 'snap1.vmdk'));
    expectSameAsQemu(join(chain, 'snap2.vmdk'));
    const info = runNativeTool(['info', join(chain, 'snap2.vmdk')]);
    expect(info.stdout).toContain(`parent: ${join(chain, 'snap1.vmdk')}`);
  });

  it('refuses a stale parent (CID mismatch), a missing parent and a parent outside the directory', () => {
    const d = join(dir, 'bad');
    mkdirSync(d);
    qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicFlat', src, join(d, 'base.vmdk')]);
    qemuImg(['create', '-q', '-f', 'vmdk', '-o', 'subformat=twoGbMaxExtentSparse', '-b', 'base.vmdk', '-F', 'vmdk', join(d, 'delta.vmdk')]);
    // split-sparse deltas have text descriptors: edit them like a user (or a damaged copy) would.
    const desc = readFileSync(join(d, 'delta.vmdk'), 'utf8');
    writeFileSync(join(d, 'stale.vmdk'), desc.replace(/parentCID=[0-9a-f]+/, 'parentCID=12345678'));
    expect(runNativeTool(['cat', join(d, 'stale.vmdk'), join(d, 'x.raw')]).errorCode).toBe('E_VMDK_BAD_PARENT');
    writeFileSync(join(d, 'missing.vmdk'), desc.replace('parentFileNameHint="base.vmdk"', 'parentFileNameHint="gone.vmdk"'));
    expect(runNativeTool(['cat', join(d, 'missing.vmdk'), join(d, 'x.raw')]).errorCode).toBe('E_VMDK_BAD_PARENT');
    const outside = join(dir, 'outside-base.vmdk');
    copyFileSync(join(d, 'base.vmdk'), outside);
    writeFileSync(join(d, 'escape.vmdk'), desc.replace('parentFileNameHint="base.vmdk"', `parentFileNameHint="../outside-base.vmdk"`));
    expect(runNativeTool(['cat', join(d, 'escape.vmdk'), join(d, 'x.raw')]).errorCode).toBe('E_PATH_ESCAPE');
    expectSameAsQemu(join(d, 'delta.vmdk'));
  });
});
