// Daemon config: defaults, hyper2kvm configs load unchanged, flags win, errors point at file:line.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDaemonConfig, mergeFlags } from '../src/config/load-config.js';
import { daemonConfigSchema, extendDaemonSchema } from '../src/config/daemon-schema.js';
import { flagsToConfig } from '../src/cli/commands/daemon.js';
import { loadWorkflowAwareConfig } from '../src/workflow/workflow-config.js';
import { repoRoot, runH2k } from './helpers/cli.js';
import { tempDir } from './helpers/fixtures.js';
import { hyper2kvmExample } from './helpers/hyper2kvm-example.js';
import { z } from 'zod';

const tmp = tempDir('daemon-config');
afterAll(() => tmp.cleanup());

function write(name: string, text: string): string {
  const p = join(tmp.dir, name);
  writeFileSync(p, text);
  return p;
}


describe('daemon config', () => {
  it('fills hyper2kvm defaults', () => {
    const c = daemonConfigSchema.parse({ watch_dir: '/w', output_dir: '/o' });
    expect(c.max_concurrent_jobs).toBe(3);
    expect(c.file_stable_timeout).toBe(30);
    expect(c.retry_policy).toEqual({ enabled: true, max_retries: 3, retry_delay: 300, backoff_multiplier: 2 });
    expect(c.notifications.stall_threshold_minutes).toBe(60);
    expect(c.notifications.on_failure).toBe(true);
    expect(c.enable_deduplication).toBe(true);
    expect(c.deduplication_use_md5).toBe(false);
    expect(c.deduplication_retention_days).toBe(90);
    expect(c.log_format).toBe('human');
  });

  it("loads hyper2kvm's daemon-enhanced.yaml unchanged, warning about the keys h2k does not act on", () => {
    const { config, warnings } = loadDaemonConfig(write('h2kvm.yaml', hyper2kvmExample()));
    // the full list is asserted in hyper2kvm-config.test.ts
    expect(warnings).toContain('ignored: workdir: "/var/lib/hyper2kvm/work" (h2k needs no work directory)');
    expect(config.notifications.webhook_type).toBe('slack');
    expect(config.compress).toBe(true);
    expect(config.verbose).toBe(2);
  });

  it('loads the shipped example (as h2k daemon does) and JSON configs', () => {
    const { config, warnings } = loadWorkflowAwareConfig(join(repoRoot, 'examples', 'daemon-enhanced.yaml'));
    expect(warnings).toEqual([]);
    expect(config.watch_dir).toBe('/var/lib/h2k/queue');
    const json = write('c.json', JSON.stringify({ watch_dir: '/a', output_dir: '/b', max_concurrent_jobs: 5 }));
    expect(loadDaemonConfig(json).config.max_concurrent_jobs).toBe(5);
  });

  it('lets flags override the file, nested keys included', () => {
    const file = write('f.yaml', 'watch_dir: /w\noutput_dir: /o\nmax_concurrent_jobs: 2\nretry_policy:\n  max_retries: 7\n');
    const { config } = loadDaemonConfig(file, flagsToConfig({ maxConcurrentJobs: '4', retryDelay: '0.5', dedup: false }));
    expect(config.max_concurrent_jobs).toBe(4);
    expect(config.retry_policy.retry_delay).toBe(0.5);
    expect(config.retry_policy.max_retries).toBe(7);
    expect(config.enable_deduplication).toBe(false);
    expect(mergeFlags({ a: 1 }, { a: undefined })).toEqual({ a: 1 });
  });

  it('resolves a relative virtio_drivers_dir against the config file\'s directory, not the cwd (a flag\'s stays cwd-relative)', () => {
    mkdirSync(join(tmp.dir, 'etc'), { recursive: true });
    const file = write('etc/win.yaml', 'watch_dir: /w\noutput_dir: /o\nwin_virtio: true\nvirtio_drivers_dir: drivers/virtio-win\n');
    expect(loadDaemonConfig(file).config.virtio_drivers_dir).toBe(join(tmp.dir, 'etc', 'drivers', 'virtio-win'));
    expect(loadWorkflowAwareConfig(file).config.virtio_drivers_dir).toBe(join(tmp.dir, 'etc', 'drivers', 'virtio-win'));
    const abs = write('etc/abs.yaml', 'watch_dir: /w\noutput_dir: /o\nvirtio_drivers_dir: /srv/virtio-win.iso\n');
    expect(loadDaemonConfig(abs).config.virtio_drivers_dir).toBe('/srv/virtio-win.iso');
    expect(loadDaemonConfig(file, { virtio_drivers_dir: 'here/virtio-win' }).config.virtio_drivers_dir).toBe('here/virtio-win');
  });

  it('reports the file, line and key of a bad value', () => {
    const file = write('bad.yaml', 'watch_dir: /w\noutput_dir: /o\nretry_policy:\n  max_retries: lots\n');
    expect(() => loadDaemonConfig(file)).toThrowError(/bad\.yaml:4:16: retry_policy\.max_retries: .*number/);
    try {
      loadDaemonConfig(file);
    } catch (e) {
      expect((e as { code: string }).code).toBe('E_CONFIG');
    }
  });

  it('reports YAML syntax errors with a position, and missing required keys', () => {
    expect(() => loadDaemonConfig(write('syn.yaml', 'watch_dir: [unclosed\n'))).toThrowError(/syn\.yaml:\d+:\d+: /);
    expect(() => loadDaemonConfig(write('empty.yaml', ''))).toThrowError(/watch_dir is required/);
    expect(() => loadDaemonConfig(write('enum.yaml', 'watch_dir: /w\noutput_dir: /o\nnotifications:\n  webhook_type: teams\n')))
      .toThrowError(/enum\.yaml:4:17: notifications\.webhook_type/);
  });

  it('refuses unknown keys, naming the nearest valid one (nothing is dropped silently)', () => {
    const load = () => loadDaemonConfig(write('unk.yaml', 'watch_dir: /w\noutput_dir: /o\nmax_concurent_jobs: 9\nnotifications:\n  on_sucess: true\n'));
    expect(load).toThrowError('unknown key max_concurent_jobs in unk.yaml (line 3); did you mean max_concurrent_jobs?\n  unknown key notifications.on_sucess in unk.yaml (line 5); did you mean notifications.on_success?');
    expect(load).toThrowError(expect.objectContaining({ code: 'E_CONFIG' }));
  });

  it('can be extended with more keys (manifest workflow)', () => {
    const s = extendDaemonSchema({ manifest_workflow_dir: z.string().default('/m') });
    expect(s.parse({ watch_dir: '/w', output_dir: '/o' }).manifest_workflow_dir).toBe('/m');
  });

  it('h2k daemon exits 2 with the message on a bad config', async () => {
    const file = write('cli-bad.yaml', 'watch_dir: /w\noutput_dir: /o\nmax_concurrent_jobs: 0\n');
    const r = await runH2k(['daemon', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/E_CONFIG.*cli-bad\.yaml:3:\d+: max_concurrent_jobs/);
  });
});
