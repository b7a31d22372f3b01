// h2k as a drop-in for a hyper2kvm daemon deployment: every key of hyper2kvm's example is in
// the key table, the table and the schema agree, typos are refused with the nearest key, and
// `h2k --config file.yaml` / the manifest workflow flags start what hyper2kvm would.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { knownKeys } from '../src/config/daemon-schema.js';
import { domainXmlSettings, guestFixOptions, guestFixRequest } from '../src/config/guest-output-schema.js';
import { KEY_ROWS, KEY_TABLE, keyTableMarkdown } from '../src/config/hyper2kvm-keys.js';
import { loadDaemonConfig } from '../src/config/load-config.js';
import { nearestKey } from '../src/config/nearest-key.js';
import { loadWorkflowAwareConfig, manifestWorkflowShape } from '../src/workflow/workflow-config.js';
import { collectDaemonLog, waitFor } from './helpers/daemon-harness.js';
import { h2kBin, repoRoot, runH2k } from './helpers/cli.js';
import { tempDir } from './helpers/fixtures.js';
import { hyper2kvmExample } from './helpers/hyper2kvm-example.js';

const tmp = tempDir('h2kvm-config');
afterAll(() => tmp.cleanup());

function write(name: string, text: string): string {
  const p = join(tmp.dir, name);
  writeFileSync(p, text);
  return p;
}

/** Key names of hyper2kvm's daemon-enhanced.yaml (a fixture: names only). */
const UPSTREAM_KEYS = readFileSync(join(repoRoot, 'test', 'data', 'hyper2kvm-daemon-enhanced.keys'), 'utf8')
  .split('\n')
  .filter((l) => l && !l.startsWith('#'));


/** The keys the warnings at start name ("ignored: workdir: ..." -> workdir). */
const warnedKeys = (warnings: string[]) => warnings.map((w) => /^[a-z ]+: ([\w.]+):/.exec(w)?.[1]);

describe('the hyper2kvm key table', () => {
  it('lists every key of hyper2kvm\'s daemon-enhanced.yaml', () => {
    expect(UPSTREAM_KEYS.length).toBeGreaterThan(40);
    expect(UPSTREAM_KEYS.filter((k) => !KEY_ROWS.has(k))).toEqual([]);
    for (const k of UPSTREAM_KEYS) expect(KEY_ROWS.get(k)!.origin, k).toBe('example');
  });

  it('and the schema agree: every table key is accepted, every accepted key is in the table', () => {
    const known = knownKeys(Object.keys(manifestWorkflowShape));
    const accepted = [...known.top, ...Object.entries(known.sections).flatMap(([s, keys]) => keys.map((k) => `${s}.${k}`))];
    expect(accepted.filter((k) => !KEY_ROWS.has(k))).toEqual([]);
    expect(KEY_TABLE.map((r) => r.key).filter((k) => !accepted.includes(k))).toEqual([]);
    expect(new Set(KEY_TABLE.map((r) => r.key)).size).toBe(KEY_TABLE.length);
  });

  it('the shipped example carries every upstream key, and its commented-out keys load too', () => {
    const text = readFileSync(join(repoRoot, 'examples', 'daemon-enhanced.yaml'), 'utf8');
    for (const k of UPSTREAM_KEYS) {
      const leaf = k.split('.').pop()!;
      const indent = k.includes('.') ? ' {2}' : '';
      expect(text, k).toMatch(new RegExp(`^(# ?)?${indent}${leaf}:`, 'm'));
    }
    const uncommented = text.replace(/^# ?([a-z_]+): /gm, (line, key: string) => (KEY_ROWS.has(key) ? `${key}: ` : line));
    const { warnings } = loadWorkflowAwareConfig(write('example-all.yaml', uncommented));
    // the guest-fix, Windows and VM-output keys are applied now: only the truly ignored keys warn
    expect(warnedKeys(warnings).sort()).toEqual(['compress_level', 'win_hyperv', 'workdir']);
  });

  it('renders the README table', () => {
    const md = keyTableMarkdown().split('\n');
    expect(md).toHaveLength(KEY_TABLE.length + 2);
    expect(md).toContain('| `win_hyperv` | accepted, ignored (warning) | not supported: h2k writes no Hyper-V enlightenments into the domain XML (Windows guests boot without them) |');
  });
});

describe('hyper2kvm daemon configs', () => {
  it('loads hyper2kvm\'s example with exactly the documented warnings', () => {
    const { config, warnings } = loadDaemonConfig(write('upstream.yaml', hyper2kvmExample(tmp.dir)));
    expect(warnedKeys(warnings)).toEqual(['workdir', 'compress_level', 'win_hyperv']);
    expect(warnings).toContain('ignored: win_hyperv: true (not supported: h2k writes no Hyper-V enlightenments into the domain XML (Windows guests boot without them))');
    // every warning comes from the table, and every warned key is one the file sets
    for (const k of warnedKeys(warnings)) expect(KEY_ROWS.has(k!)).toBe(true);
    expect(config.compress).toBe(true);
    expect(config.notifications.webhook_type).toBe('slack');
  });

  it('types the guest-fix and VM-output keys with hyper2kvm\'s defaults', () => {
    const { config: d } = loadDaemonConfig(write('min.yaml', 'watch_dir: /w\noutput_dir: /o\n'));
    expect(d).toMatchObject({
      fstab_mode: 'stabilize-all', regen_initramfs: true, update_grub: true, fix_network: true,
      network_fix_level: 'moderate', win_virtio: false, emit_domain_xml: false, vm_memory: 2048, vm_vcpus: 2, vm_uefi: false,
    });
    // remove_vmware_tools unset: each OS's default (Linux keeps the tools as hyper2kvm does, Windows removes them on first boot)
    expect(d.remove_vmware_tools).toBeUndefined();
    expect(guestFixOptions(d)).toEqual({ fstab: 'stabilize-all', grub: true, initramfs: true, network: 'basic', removeVmwareTools: undefined });
    expect(domainXmlSettings(d)).toBeUndefined();
    // hyper2kvm's defaults have fixes on, but a config that sets no guest-fix key asks for none
    expect(guestFixRequest(d)).toEqual([]);
    expect(guestFixRequest(loadDaemonConfig(write('winoff.yaml', 'watch_dir: /w\noutput_dir: /o\nwin_virtio: false\nemit_domain_xml: true\n')).config)).toEqual([]);
    expect(guestFixRequest(loadDaemonConfig(write('one.yaml', 'watch_dir: /w\noutput_dir: /o\nfix_network: false\n')).config)).toEqual(['fix_network']);

    const { config: c } = loadDaemonConfig(write('guest.yaml', hyper2kvmExample(tmp.dir) + 'network_fix_level: aggressive\nremove_vmware_tools: true\nno_grub: false\n'));
    expect(c.vm_memory).toBe(4096);
    expect(guestFixRequest(c)).toEqual(['fstab_mode', 'regen_initramfs', 'update_grub', 'no_grub', 'remove_vmware_tools', 'network_fix_level', 'win_virtio']);
    expect(guestFixOptions(c)).toEqual({ fstab: 'stabilize-all', grub: true, initramfs: true, network: 'full', removeVmwareTools: true });
    expect(domainXmlSettings(c)).toEqual({ memoryMiB: 4096, vcpus: 2, firmware: 'bios' });
    const { config: off } = loadDaemonConfig(write('off.yaml', 'watch_dir: /w\noutput_dir: /o\nfix_network: false\nupdate_grub: false\nfstab_mode: noop\n'));
    expect(guestFixOptions(off)).toMatchObject({ fstab: 'noop', grub: false, network: 'none' });
    // hyper2kvm's Windows key: the virtio-win ISO or directory handed to the Windows fix
    const { config: win } = loadDaemonConfig(write('win.yaml', 'watch_dir: /w\noutput_dir: /o\nvirtio_drivers_dir: /srv/virtio-win.iso\n'));
    expect(guestFixRequest(win)).toEqual(['virtio_drivers_dir']);
    expect(guestFixOptions(win)).toMatchObject({ virtioWin: '/srv/virtio-win.iso' });
    expect(() => loadDaemonConfig(write('fst.yaml', 'watch_dir: /w\noutput_dir: /o\nfstab_mode: stabilise\n'))).toThrowError(/fst\.yaml:3:\d+: fstab_mode/);
  });

  it('reads hyphenated keys as hyper2kvm does, and refuses both spellings at once', () => {
    const { config } = loadDaemonConfig(write('hy.yaml', 'watch-dir: /w\noutput_dir: /o\nmax-concurrent-jobs: 5\nretry_policy:\n  max-retries: 7\n'));
    expect(config.max_concurrent_jobs).toBe(5);
    expect(config.retry_policy.max_retries).toBe(7);
    expect(() => loadDaemonConfig(write('hy-bad.yaml', 'watch_dir: /w\noutput_dir: /o\nmax-concurrent-jobs: 0\n'))).toThrowError(/hy-bad\.yaml:3:\d+: max_concurrent_jobs/);
    expect(() => loadDaemonConfig(write('twice.yaml', 'watch_dir: /w\noutput_dir: /o\nmax_concurrent_jobs: 2\nmax-concurrent-jobs: 3\n')))
      .toThrowError(/max_concurrent_jobs is set twice \(as max_concurrent_jobs and as max-concurrent-jobs\)/);
    expect(() => loadDaemonConfig(write('twice2.yaml', 'watch_dir: /w\noutput_dir: /o\nretry_policy:\n  max-retries: 2\n  max_retries: 3\n')))
      .toThrowError(/twice2\.yaml:4:\d+: retry_policy\.max_retries is set twice \(as max_retries and as max-retries\)/);
  });

  it('refuses values h2k cannot honour, naming the key and line', () => {
    const refused = (name: string, extra: string) => () => loadDaemonConfig(write(name, `watch_dir: /w\noutput_dir: /o\n${extra}`));
    expect(refused('wf.yaml', 'workflow_mode: true\n')).toThrowError(/workflow_mode: true in wf\.yaml \(line 3\) is refused: hyper2kvm's 3-directory disk workflow is not implemented/);
    expect(refused('dry.yaml', 'dry_run: true\n')).toThrowError(/dry_run: true in dry\.yaml \(line 3\) is refused: the daemon has no dry run/);
    expect(refused('cmd.yaml', 'command: local\n')).toThrowError(/command: "local" in cmd\.yaml \(line 3\) is refused: h2k daemon runs only command: daemon/);
    expect(refused('grub.yaml', 'update_grub: true\nno_grub: true\n')).toThrowError(/update_grub: true and no_grub: true in grub\.yaml \(line 4\) contradict each other/);
    expect(refused('cmd2.yaml', 'command: daemon\ncmd: ova\n')).toThrowError(/cmd: "ova" in cmd2\.yaml \(line 4\) is refused/);
    // the accepted forms
    expect(loadDaemonConfig(write('ok.yaml', 'watch_dir: /w\noutput_dir: /o\nworkflow_mode: false\ndry_run: false\ncmd: daemon\n')).warnings).toEqual([]);
  });
});

describe('unknown keys', () => {
  it('suggests the nearest key, nested and misplaced keys included', () => {
    const top = knownKeys().top;
    expect(nearestKey('max_concurent_jobs', top)).toBe('max_concurrent_jobs');
    expect(nearestKey('fiel_stable_timeout', top)).toBe('file_stable_timeout');
    expect(nearestKey('wacth_dir', top)).toBe('watch_dir');
    expect(nearestKey('max_retires', knownKeys().sections.retry_policy!)).toBe('max_retries');
    expect(nearestKey('max_retries', ['retry_policy.max_retries', 'watch_dir'])).toBe('retry_policy.max_retries');
    expect(nearestKey('frobnicate', top)).toBeUndefined();
  });

  it('a typo is exit 2 naming the key and the nearest valid one', async () => {
    const file = write('daemon.yaml', 'watch_dir: /w\noutput_dir: /o\nmax_concurent_jobs: 2\n');
    const r = await runH2k(['daemon', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown key max_concurent_jobs in daemon.yaml (line 3); did you mean max_concurrent_jobs?');
    expect(r.stderr).toMatch(/E_CONFIG/);
  });

  it('a nested typo too, every one in one message', async () => {
    const file = write('nested.yaml', 'watch_dir: /w\noutput_dir: /o\nretry_policy:\n  max_retires: 4\nnotifications:\n  on_sucess: true\nfrobnicate: 1\n');
    const r = await runH2k(['daemon', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown key retry_policy.max_retires in nested.yaml (line 4); did you mean retry_policy.max_retries?');
    expect(r.stderr).toContain('unknown key notifications.on_sucess in nested.yaml (line 6); did you mean notifications.on_success?');
    expect(r.stderr).toContain('unknown key frobnicate in nested.yaml (line 7); no daemon key is close to it');
  });
});

/** Starts `node bin/h2k.js ...args` and waits for daemon_started in its JSON log. */
async function startAndStop(args: string[]): Promise<{ started: Record<string, unknown>; code: number | null; stderr: string }> {
  const proc = spawn(process.execPath, [h2kBin, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = collectDaemonLog(proc);
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  try {
    const started = await waitFor(() => `daemon_started\n${log.stderr()}`, () => log.events.find((e) => e.event === 'daemon_started'), 30_000);
    proc.kill('SIGTERM');
    return { started, code: await exited, stderr: log.stderr() };
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  }
}

describe('starting the daemon as hyper2kvm is started', () => {
  it('h2k --config file.yaml with command: daemon starts the watch-folder daemon', { timeout: 60_000 }, async () => {
    const dir = join(tmp.dir, 'run');
    mkdirSync(dir);
    const file = write('run.yaml', hyper2kvmExample(dir).replace('notifications:\n  enabled: true', 'notifications:\n  enabled: false') + 'log_format: json\n');
    const { started, code, stderr } = await startAndStop(['--config', file]);
    expect(started.msg).toMatch(new RegExp(`^Daemon started: watching ${dir}/queue -> ${dir}/output`));
    expect(code).toBe(0);
    expect(existsSync(join(dir, 'queue', '.processed'))).toBe(true);
    // the warnings at start name the keys h2k does not act on
    expect(stderr).toContain('ignored: workdir');
    expect(stderr).toContain('ignored: win_hyperv: true');
  });

  it("hyper2kvm's generated unit line: h2k --daemon --watch-dir=DIR --config=FILE", { timeout: 60_000 }, async () => {
    const dir = join(tmp.dir, 'unit');
    const file = write('unit.yaml', `command: daemon\noutput_dir: ${dir}/out\nlog_format: json\n`);
    const { started, code } = await startAndStop(['--daemon', `--watch-dir=${dir}/incoming`, `--config=${file}`]);
    expect(started.msg).toMatch(new RegExp(`^Daemon started: watching ${dir}/incoming -> ${dir}/out`));
    expect(code).toBe(0);
  });

  it('h2k --config file.yaml with manifest_workflow_mode: true starts the manifest workflow', { timeout: 60_000 }, async () => {
    const dir = join(tmp.dir, 'mwf');
    const file = write('mwf.yaml', stringify({
      command: 'daemon', daemon: true, manifest_workflow_mode: true, manifest_workflow_dir: join(dir, 'wf'),
      output_dir: join(dir, 'out'), max_concurrent_jobs: 2, verbose: 2, log_format: 'json',
    }));
    const { started, code } = await startAndStop(['--config', file]);
    expect(started.msg).toMatch(/^Manifest workflow started: .*\/wf\/to_be_processed -> .*\/out \(2 concurrent jobs/);
    expect(code).toBe(0);
  });

  it('h2k daemon --manifest-workflow-mode --manifest-workflow-dir W --output-dir O --max-concurrent-jobs N', { timeout: 60_000 }, async () => {
    const dir = join(tmp.dir, 'flags');
    const { started, code } = await startAndStop([
      'daemon', '--manifest-workflow-mode', '--manifest-workflow-dir', join(dir, 'wf'), '--output-dir', join(dir, 'out'),
      '--max-concurrent-jobs', '3', '--log-format', 'json',
    ]);
    expect(started.msg).toBe(`Manifest workflow started: ${join(dir, 'wf')}/to_be_processed -> ${join(dir, 'out')} (3 concurrent jobs, control socket ${join(dir, 'out', '.daemon', 'control.sock')})`);
    expect(code).toBe(0);
    for (const sub of ['to_be_processed', 'processing', 'processed', 'failed']) expect(existsSync(join(dir, 'wf', sub))).toBe(true);
  });

  it('h2k --config refuses a file without command: daemon; h2k alone still prints help', async () => {
    const local = await runH2k(['--config', write('local.yaml', 'command: local\nvmdk: /x.vmdk\n')]);
    expect(local.code).toBe(2);
    expect(local.stderr).toContain('local.yaml has command: "local"; h2k runs only command: daemon from a config file');
    const none = await runH2k(['--config', write('nocmd.yaml', 'watch_dir: /w\noutput_dir: /o\n')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('nocmd.yaml has no command: key');
    const missing = await runH2k(['--config', join(tmp.dir, 'absent.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read config file: no such file/);
    const bare = await runH2k([]);
    expect(bare.code).toBe(2); // a usage error, with the help on stderr
    expect(bare.stdout).toBe('');
    expect(bare.stdout + bare.stderr).toMatch(/Usage: h2k \[options\] \[command\]/);
    expect(bare.stdout + bare.stderr).toMatch(/^ {2}daemon\b/m);
  });
});
