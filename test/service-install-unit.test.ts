// `h2k daemon install-unit` and examples/systemd/: the installed files are checked by systemd's
// own tools, no running systemd needed: systemd-analyze verify (unknown keys, missing
// executables), systemd-analyze security --offline (exposure below 3.0), and systemd-sysusers
// creating the h2k user (in group kvm) in a scratch root.
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { h2kBin, runCommand, runH2k } from './helpers/cli.js';
import { tempDir } from './helpers/fixtures.js';

const tmp = tempDir('install-unit');
afterAll(() => tmp.cleanup());
const unitDir = (root: string) => join(root, 'etc', 'systemd', 'system');

async function security(unit: string): Promise<number> {
  // --threshold is in tenths: 29 fails on anything above 2.9
  const r = await runCommand('systemd-analyze', ['security', '--offline=yes', '--threshold=29', '--no-pager', unit]);
  const m = /Overall exposure level for \S+: (\d+\.\d)/.exec(r.stdout);
  expect(m, r.stdout + r.stderr).not.toBeNull();
  expect(r.code, r.stdout).toBe(0);
  return Number(m![1]);
}

async function verify(unit: string): Promise<void> {
  const r = await runCommand('systemd-analyze', ['verify', '--no-pager', unit]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

describe('h2k daemon install-unit', () => {
  it('installs h2k.service and the sysusers entry; verify passes, exposure < 3.0, and it names this h2k', async () => {
    const root = join(tmp.dir, 'single');
    const r = await runH2k(['daemon', 'install-unit', '--prefix', root]);
    expect(r.code, r.stderr).toBe(0);
    const unit = join(unitDir(root), 'h2k.service');
    expect(r.stdout).toContain(`Installed ${unit}`);
    expect(r.stdout).toMatch(/systemctl daemon-reload\n {2}systemctl enable --now h2k\n/);
    const text = readFileSync(unit, 'utf8');
    expect(text).toContain(`\nExecStart=${process.execPath} ${h2kBin} daemon --config \${CONFIG_FILE}\n`);
    for (const line of ['Type=notify', 'ExecReload=/bin/kill -HUP $MAINPID', 'WatchdogSec=60s', 'User=h2k', 'KillMode=mixed', 'DeviceAllow=/dev/kvm rw'])
      expect(text).toContain(`\n${line}\n`);
    // the shutdown grace (120 s by default) fits inside the stop timeout
    expect(Number(/\nTimeoutStopSec=(\d+)s\n/.exec(text)?.[1])).toBeGreaterThan(120);
    await verify(unit);
    expect(await security(unit)).toBeLessThan(3.0);

    // a second install refuses to replace the unit (exit 4) unless --force
    expect((await runH2k(['daemon', 'install-unit', '--prefix', root])).code).toBe(4);
    expect((await runH2k(['daemon', 'install-unit', '--prefix', root, '--force'])).code).toBe(0);

    // systemd-sysusers makes the user from the installed file, in a scratch root
    const sysRoot = join(tmp.dir, 'sysroot');
    mkdirSync(join(sysRoot, 'etc'), { recursive: true });
    const su = await runCommand('systemd-sysusers', [`--root=${sysRoot}`, join(root, 'etc', 'sysusers.d', 'h2k.conf')]);
    expect(su.code, su.stderr).toBe(0);
    expect(readFileSync(join(sysRoot, 'etc', 'passwd'), 'utf8')).toMatch(/^h2k:x:\d+:\d+:[^:]*:\/var\/lib\/h2k:\/usr\/sbin\/nologin$/m);
    expect(readFileSync(join(sysRoot, 'etc', 'group'), 'utf8')).toMatch(/^kvm:x:\d+:h2k$/m);
  });

  it('--template installs h2k@.service; an instance verifies and scores < 3.0', async () => {
    const root = join(tmp.dir, 'template');
    const r = await runH2k(['daemon', 'install-unit', '--template', '--prefix', root]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('systemctl enable --now h2k@NAME');
    const instance = join(unitDir(root), 'h2k@ci.service');
    symlinkSync('h2k@.service', instance);
    await verify(instance);
    expect(await security(instance)).toBeLessThan(3.0);
    expect(readFileSync(instance, 'utf8')).toContain('\nEnvironment=CONFIG_FILE=/etc/h2k/%i.yaml\n');
  });

  it('the two example units differ only in their instance lines', () => {
    const dir = join(h2kBin, '..', '..', 'examples', 'systemd');
    const body = (name: string) => readFileSync(join(dir, name), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    const single = body('h2k.service');
    const template = body('h2k@.service');
    const differ = [...template.filter((l) => !single.includes(l)), ...single.filter((l) => !template.includes(l))];
    expect(differ.sort()).toEqual([
      'Description=h2k VM disk conversion daemon (watch folder -> KVM images)',
      'Description=h2k VM disk conversion daemon for %I',
      'Environment=CONFIG_FILE=/etc/h2k/%i.yaml',
      'Environment=CONFIG_FILE=/etc/h2k/daemon.yaml',
      'StateDirectory=h2k',
      'StateDirectory=h2k/%i',
      'SyslogIdentifier=h2k-%i',
      'WorkingDirectory=/var/lib/h2k',
      'WorkingDirectory=/var/lib/h2k/%i',
    ]);
  });
});
