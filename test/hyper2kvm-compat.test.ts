// h2k dropped into a running hyper2kvm deployment. The fixture IS an upstream deployment, built
// here: its deduplication.db made by the sqlite3 tool from hyper2kvm's own DDL, its stats.json in
// hyper2kvm's format (only the rounded average, no running total), and a Python client that
// speaks to the control socket exactly as hyper2kvm's DaemonControlClient does (no newline, one
// recv). The real `h2k daemon` runs in it, in both modes.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fitSingleRecv } from '../src/service/control-protocol.js';
import { localDate } from '../src/util/local-date.js';
import { h2kBin, repoRoot, runH2k } from './helpers/cli.js';
import { startDaemon, type DaemonHarness } from './helpers/daemon-harness.js';
import { makeSeededRaw, tempDir } from './helpers/fixtures.js';
import { dropManifest, seededDisk, singleManifest, workflowTree, type WorkflowTree } from './helpers/workflow-fixtures.js';
import { startWorkflowDaemon } from './helpers/workflow-daemon.js';

// hyper2kvm/daemon/deduplicator.py, _init_db(), verbatim.
const UPSTREAM_DDL = `
CREATE TABLE IF NOT EXISTS processed_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    filename TEXT NOT NULL,
    filepath TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    md5_hash TEXT,
    processed_at TEXT NOT NULL,
    output_path TEXT,
    status TEXT NOT NULL,
    UNIQUE(filename, file_size)
);
CREATE INDEX IF NOT EXISTS idx_filename
ON processed_files(filename);
CREATE INDEX IF NOT EXISTS idx_md5_hash
ON processed_files(md5_hash);
`;

// Mirrors hyper2kvm.daemon.control.DaemonControlClient.send_command: the request without a
// newline (JSON, or the bare word the server also accepts), then a single recv(4096).
const PY_CLIENT = `
import json, socket, sys
path, mode, command = sys.argv[1:4]
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
    s.settimeout(5.0)
    s.connect(path)
    request = json.dumps({'command': command}) if mode == 'json' else command
    s.sendall(request.encode('utf-8'))
    response_data = s.recv(4096).decode('utf-8')
print(json.dumps({'bytes': len(response_data), 'reply': json.loads(response_data)}))
`;

// hyper2kvm's six in its order; h2k adds reload after them
const UPSTREAM_COMMANDS = ['status', 'stats', 'pause', 'resume', 'drain', 'stop'];

/** datetime.now().isoformat(): local time, microseconds, no zone. */
function pyIso(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds() * 1000, 6)}`;
}

const sqlite = (db: string, sql: string) => execFileSync('sqlite3', [db, sql], { encoding: 'utf8' }).trim();
const q = (s: string) => `'${s.replace(/'/g, "''")}'`;

let tmp: ReturnType<typeof tempDir>;
let pyClient: string;
const harnesses: DaemonHarness[] = [];

function py(socket: string, command: string, mode: 'json' | 'word' = 'json'): { bytes: number; reply: Record<string, any> } {
  return JSON.parse(execFileSync('python3', [pyClient, socket, mode, command], { encoding: 'utf8', timeout: 15_000 }));
}

beforeAll(() => {
  tmp = tempDir('h2kvm-compat');
  pyClient = join(tmp.dir, 'daemon_ctl_client.py');
  writeFileSync(pyClient, PY_CLIENT);
});

afterAll(async () => {
  for (const h of harnesses) await h.shutdown();
  tmp?.cleanup();
});

describe('watch-folder daemon in a hyper2kvm deployment', () => {
  it('keeps and honours the deduplication.db, continues stats.json, answers hyper2kvm\'s client, archives by date', async () => {
    const root = join(tmp.dir, 'deploy');
    const watch = join(root, 'watch');
    const state = join(root, 'out', '.daemon');
    mkdirSync(watch, { recursive: true });
    mkdirSync(state, { recursive: true });
    const images = join(tmp.dir, 'images');
    mkdirSync(images);
    const seen = makeSeededRaw(join(images, 'seen.img'), 1, 7);
    const broken = makeSeededRaw(join(images, 'broken.img'), 1, 8);
    const fresh = makeSeededRaw(join(images, 'new.img'), 1, 9);
    const hashed = makeSeededRaw(join(images, 'hashed.img'), 1, 10);
    const size = (f: string) => readFileSync(f).length;
    const md5 = (f: string) => execFileSync('md5sum', [f], { encoding: 'utf8' }).split(' ')[0];

    // --- what hyper2kvm left behind ---
    const db = join(state, 'deduplication.db');
    const now = Date.now();
    const row = (name: string, bytes: number, hash: string | null, at: Date, status: string) =>
      `INSERT OR REPLACE INTO processed_files (filename, filepath, file_size, md5_hash, processed_at, output_path, status) VALUES (${q(name)}, ${q(`/var/lib/hyper2kvm/queue/${name}`)}, ${bytes}, ${hash ? q(hash) : 'NULL'}, ${q(pyIso(at))}, ${q(`/var/lib/hyper2kvm/output/2026-01-17/${name}`)}, ${q(status)});`;
    sqlite(db, UPSTREAM_DDL + [
      row('seen.img', size(seen), null, new Date(now - 86_400_000), 'success'),
      row('old.vmdk', 4096, null, new Date(now - 200 * 86_400_000), 'success'),
      row('broken.img', size(broken), null, new Date(now - 3600_000), 'failed'),
      row('hashed-original.img', size(hashed), md5(hashed), new Date(now - 7200_000), 'success'),
    ].join('\n'));
    const upstreamRows = sqlite(db, 'SELECT id, filename, filepath, file_size, processed_at, status FROM processed_files ORDER BY id;');
    const upstreamStats = {
      daemon_start_time: '2026-11-01T08:00:00.000000',
      uptime_seconds: 3600.5,
      uptime_hours: 1.0,
      total_processed: 40,
      total_failed: 2,
      total_retried: 3,
      success_rate_percent: 95.24,
      average_processing_time_seconds: 125.3,
      current_queue_depth: 0,
      current_jobs: [],
      by_file_type: {
        vmdk: { processed: 30, failed: 1, success_rate_percent: 96.77, average_time_seconds: 130.0 },
        ova: { processed: 10, failed: 1, success_rate_percent: 90.91, average_time_seconds: 110.9 },
      },
      recent_completed: [],
      last_updated: '2026-11-01T09:00:00.500000',
    };
    writeFileSync(join(state, 'stats.json'), JSON.stringify(upstreamStats, null, 2));

    // --- h2k takes over ---
    const h = await startDaemon({ reuse: { root }, config: { enable_deduplication: true } });
    harnesses.push(h);

    // Migrated in place after a backup; every row kept; the upstream table's UNIQUE stays.
    const migrated = await h.waitForEvent('dedup_migrated');
    const backups = readdirSync(state).filter((n) => n.startsWith('deduplication.db.bak-'));
    expect(backups).toHaveLength(1);
    expect(migrated.backup).toBe(join(state, backups[0]));
    const backup = join(state, backups[0]);
    expect(sqlite(backup, 'PRAGMA user_version;')).toBe('0');
    expect(sqlite(backup, 'SELECT id, filename, filepath, file_size, processed_at, status FROM processed_files ORDER BY id;')).toBe(upstreamRows);
    expect(sqlite(db, 'PRAGMA user_version;')).toBe('2');
    expect(sqlite(db, 'SELECT id, filename, filepath, file_size, processed_at, status FROM processed_files ORDER BY id;')).toBe(upstreamRows);
    const cols = sqlite(db, "SELECT name FROM pragma_table_info('processed_files');").split('\n');
    expect(cols).toEqual(['id', 'filename', 'filepath', 'file_size', 'md5_hash', 'processed_at', 'output_path', 'status', 'xxh3', 'error', 'duration_seconds']);
    expect(sqlite(db, "SELECT sql FROM sqlite_master WHERE name = 'processed_files';")).toContain('UNIQUE(filename, file_size)');
    // A read-only look at an unmigrated hyper2kvm database works and changes nothing.
    const list = await runH2k(['dedup', 'list', '--db', backup, '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as { records: { filename: string; md5_hash: string | null }[] }).records.map((r) => r.filename).sort()).toEqual(
      ['broken.img', 'hashed-original.img', 'old.vmdk', 'seen.img'],
    );
    expect(sqlite(backup, 'PRAGMA user_version;')).toBe('0');

    // stats.json: hyper2kvm's average survives the load, and its keys are written back.
    const loaded = py(h.socket, 'stats');
    expect(loaded.reply.status).toBe('ok');
    expect(loaded.reply.stats).toMatchObject({ total_processed: 40, total_failed: 2, total_retried: 3, average_processing_time_seconds: 125.3, current_queue_depth: 0 });
    expect(loaded.reply.stats.by_file_type.vmdk).toMatchObject({ processed: 30, failed: 1, average_time_seconds: 130 });
    expect(loaded.bytes).toBeLessThan(4096);
    const written = h.statsFile();
    for (const key of ['total_processed', 'total_failed', 'total_retried', 'success_rate_percent', 'average_processing_time_seconds', 'current_queue_depth',
      'current_jobs', 'by_file_type', 'recent_completed', 'daemon_start_time', 'uptime_seconds', 'last_updated', 'total_processing_time'])
      expect(written, key).toHaveProperty(key);
    expect(written.average_processing_time_seconds).toBe(125.3);
    expect(written.total_processing_time).toBeCloseTo(125.3 * 40, 6);

    // hyper2kvm's client, reply shapes as its control server gives them.
    expect(py(h.socket, 'stats', 'word').reply.stats.total_processed).toBe(40);
    expect(py(h.socket, 'status').reply).toMatchObject({ status: 'ok', paused: false, draining: false });
    expect(py(h.socket, 'pause').reply).toEqual({ status: 'ok', message: 'Daemon paused' });
    expect(py(h.socket, 'status').reply).toMatchObject({ status: 'ok', paused: true, draining: false });
    expect(py(h.socket, 'resume').reply).toEqual({ status: 'ok', message: 'Daemon resumed' });
    expect(py(h.socket, 'status', 'word').reply.paused).toBe(false);
    expect(py(h.socket, 'frobnicate').reply).toEqual({ status: 'error', message: 'Unknown command: frobnicate', available_commands: [...UPSTREAM_COMMANDS, 'reload'] });
    expect(py(h.socket, 'frobnicate', 'word').reply).toMatchObject({ status: 'error', available_commands: [...UPSTREAM_COMMANDS, 'reload'] });

    // The operator surface the hyper2kvm docs script against.
    const human = await h.ctl(['stats']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout.split('\n').filter((l) => l.includes('Queue Depth'))).toEqual(['  Queue Depth: 0']);
    expect(human.stdout).toMatch(/^.*retried.*3$/m);
    const jq = execFileSync('sh', ['-c', `'${process.execPath}' '${h2kBin}' ctl --output-dir '${h.outputDir}' stats --json | jq -r '.stats.current_queue_depth'`], { encoding: 'utf8', cwd: repoRoot });
    expect(jq.trim()).toBe('0');

    // A file recorded by hyper2kvm (name + size) is skipped; one it recorded as failed, and a
    // new one, are converted; all go to .processed/YYYY-MM-DD/.
    copyFileSync(seen, join(watch, 'seen.img'));
    const dup = await h.waitForEvent('duplicate_skipped');
    expect(dup.msg).toContain(`Skipping duplicate: seen.img (originally processed: ${sqlite(db, "SELECT processed_at FROM processed_files WHERE filename = 'seen.img';")})`);
    copyFileSync(broken, join(watch, 'broken.img'));
    copyFileSync(fresh, join(watch, 'new.img'));
    await h.until('two conversions', () => h.count('job_succeeded') === 2);
    const day = join(watch, '.processed', localDate());
    await h.until('archived', () => existsSync(day) && readdirSync(day).length === 3);
    expect(readdirSync(day).sort()).toEqual(['broken.img', 'new.img', 'seen.img']);
    expect(readdirSync(join(watch, '.processed'))).toEqual([localDate()]);
    expect(h.count('job_succeeded')).toBe(2);

    // h2k's records sit in the upstream table as hyper2kvm would write them (its UNIQUE replaced the failed row).
    expect(sqlite(db, "SELECT filepath, file_size, status FROM processed_files WHERE filename = 'new.img';")).toBe(`${join(watch, 'new.img')}|${size(fresh)}|success`);
    expect(sqlite(db, "SELECT count(*), min(status) FROM processed_files WHERE filename = 'broken.img';")).toBe('1|success');
    expect(sqlite(db, 'SELECT count(*) FROM processed_files;')).toBe('5');

    await h.shutdown();
    const after = h.statsFile();
    expect(after.total_processed).toBe(42);
    const phase1Total = after.total_processing_time as number;
    expect(phase1Total).toBeGreaterThan(125.3 * 40);
    expect(after.average_processing_time_seconds).toBeCloseTo(phase1Total / 42, 2);
    expect((after.recent_completed as { filename: string; status: string }[]).map((j) => [j.filename, j.status]).sort()).toEqual([['broken.img', 'success'], ['new.img', 'success']]);

    // Restart with deduplication_use_md5: a renamed copy of a file hyper2kvm hashed is skipped
    // by its md5_hash; the running total carries over exactly.
    const h2 = await startDaemon({ reuse: { root }, config: { enable_deduplication: true, deduplication_use_md5: true } });
    harnesses.push(h2);
    expect(h2.count('dedup_migrated')).toBe(0);
    expect(py(h2.socket, 'stats').reply.stats.total_processing_time).toBe(phase1Total);
    copyFileSync(hashed, join(watch, 'hashed-renamed.img'));
    const dup2 = await h2.waitForEvent('duplicate_skipped');
    expect(dup2.msg).toMatch(/^Skipping duplicate: hashed-renamed\.img/);
    await h2.until('archived', () => existsSync(join(day, 'hashed-renamed.img')));
    await h2.shutdown();

    // Like hyper2kvm's cleanup_old_records(90) at shutdown, h2k dropped the 200-day-old record.
    expect(sqlite(db, "SELECT count(*) FROM processed_files WHERE filename = 'old.vmdk';")).toBe('0');

    // The queries from hyper2kvm's docs still run against the migrated database ...
    expect(sqlite(db, 'SELECT filename, processed_at, status FROM processed_files ORDER BY processed_at DESC LIMIT 10;').split('\n')).toHaveLength(4);
    expect(sqlite(db, 'SELECT status, COUNT(*) as count FROM processed_files GROUP BY status;')).toBe('success|4');
    // ... and so do hyper2kvm's own mark_processed and is_duplicate statements (a rollback keeps working).
    sqlite(db, row('rollback.img', 1, null, new Date(now - 100 * 86_400_000), 'success'));
    expect(sqlite(db, `SELECT filename FROM processed_files WHERE filename = 'rollback.img' AND file_size = 1 ORDER BY processed_at DESC LIMIT 1;`)).toBe('rollback.img');
    expect(sqlite(db, "DELETE FROM processed_files WHERE processed_at < datetime('now', '-90 days'); SELECT changes();")).toBe('1');
    expect(sqlite(db, 'SELECT count(*) FROM processed_files;')).toBe('4');
  }, 240_000);
});

describe('replies to hyper2kvm\'s client fit its single recv(4096)', () => {
  it('leaves out the oldest recent_completed entries, and only those, when stats would not fit', () => {
    const job = (i: number) => ({
      filename: `${'datacenter-2-cluster-7-'.repeat(8)}vm-disk-number-${i}.vmdk`, file_type: 'vmdk', file_size_mb: 20480.5,
      start_time: '2026-12-02T10:00:00.000Z', end_time: '2026-12-02T10:02:05.300Z', duration_seconds: 125.3, status: 'success', error: null, retry_count: 0,
    });
    const stats = { total_processed: 10, current_queue_depth: 3, by_file_type: { vmdk: { processed: 10 } }, recent_completed: Array.from({ length: 10 }, (_, i) => job(i)) };
    const reply = { status: 'ok' as const, stats };
    expect(JSON.stringify(reply).length).toBeGreaterThan(4096);
    const text = fitSingleRecv(reply);
    expect(Buffer.byteLength(text) + 1).toBeLessThanOrEqual(4096); // + the newline
    const fitted = JSON.parse(text);
    expect(fitted.stats).toMatchObject({ total_processed: 10, current_queue_depth: 3, by_file_type: { vmdk: { processed: 10 } } });
    const kept = fitted.stats.recent_completed.map((j: { filename: string }) => j.filename);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept).toEqual(stats.recent_completed.slice(-kept.length).map((j) => j.filename)); // the newest
    // A small reply is sent as it is.
    expect(fitSingleRecv({ status: 'ok', paused: false, draining: false })).toBe('{"status":"ok","paused":false,"draining":false}');
  });
});

describe('manifest workflow daemon in a hyper2kvm deployment', () => {
  let tree: WorkflowTree;
  beforeAll(() => {
    tree = workflowTree('h2kvm-compat-wf');
  });
  afterAll(() => tree?.cleanup());

  it('names results as hyper2kvm documents them and carries over its .stats/stats.json', async () => {
    const disk = seededDisk(tree.imagesDir, 'my-vm', 4, 31);
    const staging = join(tree.root, 'staging');
    mkdirSync(staging);
    // hyper2kvm's manifest daemon kept its stats under the workflow directory.
    mkdirSync(join(tree.workflowDir, '.stats'));
    writeFileSync(join(tree.workflowDir, '.stats', 'stats.json'), JSON.stringify({
      total_processed: 4, total_failed: 1, total_retried: 0, success_rate_percent: 80, average_processing_time_seconds: 50,
      current_queue_depth: 0, current_jobs: [], by_file_type: { manifest: { processed: 4, failed: 1, success_rate_percent: 80, average_time_seconds: 50 } },
      recent_completed: [], daemon_start_time: '2026-11-01T08:00:00', uptime_seconds: 10, uptime_hours: 0, last_updated: '2026-11-01T08:00:10',
    }));
    const d = await startWorkflowDaemon(tree.root, tree.workflowDir, tree.outputDir, 1);
    try {
      const socket = join(tree.outputDir, '.daemon', 'control.sock');
      expect(py(socket, 'stats').reply.stats).toMatchObject({ total_processed: 4, average_processing_time_seconds: 50, total_processing_time: 200 });
      expect(py(socket, 'status').reply).toMatchObject({ status: 'ok', paused: false, draining: false });

      dropManifest(tree.queueDir, 'my-vm.json', singleManifest(disk.vmdk, { convert: { output_format: 'qcow2' }, validate: { enabled: true } }), staging);
      dropManifest(tree.queueDir, 'bad-vm.json', singleManifest(join(tree.imagesDir, 'missing.vmdk')), staging);
      await d.waitForEvent('manifest_processed', (e) => e.manifest === 'my-vm.json');
      await d.waitForEvent('manifest_failed', (e) => e.manifest === 'bad-vm.json');

      const processed = join(tree.workflowDir, 'processed', localDate());
      expect(readdirSync(processed).sort()).toEqual(['my-vm.json', 'my-vm.json.report.json']);
      const report = JSON.parse(readFileSync(join(processed, 'my-vm.json.report.json'), 'utf8'));
      expect(report).toMatchObject({ manifest: 'my-vm', manifest_file: 'my-vm.json', status: 'completed', artifacts: { input: disk.vmdk } });
      expect(typeof report.completed_at).toBe('string');
      expect(existsSync(report.artifacts.output)).toBe(true);
      for (const stage of ['load', 'convert', 'validate']) expect(report.stages[stage].status, stage).toBe('success');

      const failed = join(tree.workflowDir, 'failed', localDate());
      expect(readdirSync(failed)).toContain('bad-vm.json');
      const err = JSON.parse(readFileSync(join(failed, 'bad-vm.json.error.json'), 'utf8'));
      expect(err).toMatchObject({ original_name: 'bad-vm.json', status: 'failed' });
      expect(typeof err.job_id).toBe('string');
      expect(Date.parse(err.failed_at)).toBeGreaterThan(0);
      expect(err.error).toContain('missing.vmdk');
      // The exception is the real stack (message first, then frames), not a class name.
      expect(err.exception.split('\n')[0]).toContain(err.error);
      expect(err.exception).toMatch(/\n\s+at /);

      const stats = py(socket, 'stats').reply.stats;
      expect(stats).toMatchObject({ total_processed: 5, total_failed: 2 });
      expect(stats.total_processing_time).toBeGreaterThan(200);
    } finally {
      await d.stop();
    }
    expect(existsSync(join(tree.outputDir, '.daemon', 'stats.json'))).toBe(true);

    // `h2k manifest run` writes its report under the same name by default.
    const runOut = join(tree.root, 'run-out');
    mkdirSync(runOut);
    const manifest = dropManifest(tree.imagesDir, 'solo.json', singleManifest(disk.vmdk, { convert: { output_format: 'qcow2' } }), staging);
    const r = await runH2k(['manifest', 'run', manifest, '--output-dir', runOut, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(runOut, 'solo.json.report.json'), 'utf8'))).toMatchObject({ manifest: 'solo', status: 'completed', stages: { convert: { status: 'success' } } });
  }, 180_000);
});
