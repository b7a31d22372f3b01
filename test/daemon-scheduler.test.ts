// The daemon in-process with an injected converter: concurrency limit, exponential retry timing
// on transient errors, no retry for corrupt input, retries exhausted -> .errors/.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { watchFolderService } from '../src/daemon/watch-source.js';
import { daemonConfigSchema } from '../src/config/daemon-schema.js';
import { createLogger } from '../src/service/logger.js';
import type { ConvertRequest, ConvertResult, ConvertOptions } from '../src/convert/types.js';
import { H2kError } from '../src/util/errors.js';
import { destroyPool } from '../src/pool/pool.js';
import { tempDir } from './helpers/fixtures.js';
import { waitFor, type LogEvent } from './helpers/daemon-harness.js';
import { localDate } from '../src/util/local-date.js';

const tmp = tempDir('daemon-sched');
afterAll(async () => {
  await destroyPool();
  tmp.cleanup();
});

interface Call {
  source: string;
  start: number;
  end?: number;
}

function fakeConverter(behaviour: (source: string, attempt: number) => H2kError | undefined, ms = 250) {
  const calls: Call[] = [];
  let running = 0;
  let maxRunning = 0;
  const convert = async (req: ConvertRequest, opts: ConvertOptions): Promise<ConvertResult> => {
    const call: Call = { source: req.source, start: Date.now() };
    calls.push(call);
    running++;
    maxRunning = Math.max(maxRunning, running);
    try {
      await new Promise<void>((res, rej) => {
        const t = setTimeout(res, ms);
        opts.signal?.addEventListener('abort', () => {
          clearTimeout(t);
          rej(new H2kError('cancelled', { code: 'E_CANCELLED' }));
        });
      });
      const attempt = calls.filter((c) => c.source === req.source).length;
      const err = behaviour(basename(req.source), attempt);
      if (err) throw err;
      await writeFile(req.output, 'converted');
      return {
        source: req.source, output: req.output, sourceFormat: 'raw', sourceSubformat: '', outputFormat: 'qcow2',
        compression: 'none', virtualSize: 9, dataBytes: 9, zeroBytes: 0, outputBytes: 9, clustersWritten: 1,
        clustersCompressed: 0, seconds: ms / 1000, sourceHashes: {}, contentHashes: {},
      };
    } finally {
      running--;
      call.end = Date.now();
    }
  };
  return { convert, calls, maxRunning: () => maxRunning };
}

let n = 0;
async function startInProcess(convert: ReturnType<typeof fakeConverter>['convert'], extra: Record<string, unknown> = {}) {
  const root = join(tmp.dir, `d${n++}`);
  const watch = join(root, 'watch');
  mkdirSync(watch, { recursive: true });
  const events: LogEvent[] = [];
  const log = createLogger({ format: 'json', write: (line) => events.push(JSON.parse(line)) });
  const cfg = daemonConfigSchema.parse({
    watch_dir: watch,
    output_dir: join(root, 'out'),
    file_stable_timeout: 0.2,
    enable_deduplication: false,
    max_concurrent_jobs: 2,
    retry_policy: { max_retries: 2, retry_delay: 0.3, backoff_multiplier: 2 },
    ...extra,
  });
  const daemon = watchFolderService(cfg, log, { convert });
  await daemon.start();
  const running = daemon.run();
  return { daemon, watch, root, events, running };
}

let current: Awaited<ReturnType<typeof startInProcess>> | undefined;
afterEach(async () => {
  if (current) {
    current.daemon.stop('test end');
    await current.running;
    current = undefined;
  }
});

describe('scheduler (in-process, injected converter)', () => {
  it('never runs more than max_concurrent_jobs at once, and does overlap up to it', async () => {
    const fake = fakeConverter(() => undefined, 400);
    current = await startInProcess(fake.convert);
    for (let i = 0; i < 5; i++) writeFileSync(join(current.watch, `vm${i}.img`), `disk ${i}`);
    await waitFor('5 processed', () => readdirSync(join(current!.watch, '.processed', localDate())).length === 5, 30_000);
    expect(fake.maxRunning()).toBe(2);
    expect(fake.calls).toHaveLength(5);
    const s = await current.daemon.snapshot();
    expect(s.total_processed).toBe(5);
    expect(s.by_file_type.img.processed).toBe(5);
  });

  it('retries transient errors after retry_delay * backoff_multiplier^n, then succeeds', async () => {
    const fake = fakeConverter((_name, attempt) => (attempt <= 2 ? new H2kError('disk hiccup', { code: 'E_IO' }) : undefined), 50);
    current = await startInProcess(fake.convert);
    writeFileSync(join(current.watch, 'flaky.img'), 'flaky');
    await waitFor('processed', () => existsSync(join(current!.watch, '.processed', localDate(), 'flaky.img')), 30_000);
    expect(fake.calls).toHaveLength(3);
    const gap1 = fake.calls[1].start - fake.calls[0].end!;
    const gap2 = fake.calls[2].start - fake.calls[1].end!;
    expect(gap1).toBeGreaterThanOrEqual(290);
    expect(gap2).toBeGreaterThanOrEqual(590);
    expect(gap1).toBeLessThan(2000);
    expect(gap2).toBeLessThan(2500);
    const s = await current.daemon.snapshot();
    expect(s.total_retried).toBe(2);
    expect(s.total_processed).toBe(1);
    expect(s.total_failed).toBe(0);
    expect(current.events.filter((e) => e.event === 'job_retry').map((e) => e.delay_seconds)).toEqual([0.3, 0.6]);
  });

  it('gives up after max_retries and files the source under .errors/ with its context', async () => {
    const fake = fakeConverter(() => new H2kError('Input/output error', { code: 'E_IO' }), 20);
    current = await startInProcess(fake.convert, { retry_policy: { max_retries: 2, retry_delay: 0.1, backoff_multiplier: 1.5 } });
    writeFileSync(join(current.watch, 'full.img'), 'full');
    const ctxFile = join(current.watch, '.errors', 'full.img.error.json');
    await waitFor('.error.json', () => existsSync(ctxFile), 30_000);
    expect(fake.calls).toHaveLength(3);
    const ctx = JSON.parse(readFileSync(ctxFile, 'utf8'));
    expect(ctx).toMatchObject({ filename: 'full.img', code: 'E_IO', phase: 'conversion', retry_count: 2 });
    expect(existsSync(join(current.watch, '.errors', 'full.img'))).toBe(true);
    expect(existsSync(join(current.watch, 'full.img'))).toBe(false);
  });

  it('never retries what a retry cannot fix: a full disk or a permission error', async () => {
    for (const [code, message] of [['E_NO_SPACE', 'No space left on device'], ['E_PERMISSION', 'Permission denied']]) {
      const fake = fakeConverter(() => new H2kError(message, { code }), 20);
      current = await startInProcess(fake.convert, { retry_policy: { max_retries: 3, retry_delay: 0.1, backoff_multiplier: 1 } });
      writeFileSync(join(current.watch, 'x.img'), 'x');
      const ctxFile = join(current.watch, '.errors', 'x.img.error.json');
      await waitFor('.error.json', () => existsSync(ctxFile), 30_000);
      expect(fake.calls, code).toHaveLength(1);
      const ctx = JSON.parse(readFileSync(ctxFile, 'utf8'));
      expect(ctx).toMatchObject({ code, retry_count: 0 });
      if (code === 'E_NO_SPACE') expect(ctx.suggestion).toMatch(/disk space/i);
      current.daemon.stop('next code');
      await current.running;
      current = undefined;
    }
  });

  it('never retries a corrupt image', async () => {
    const fake = fakeConverter(() => new H2kError('bad magic', { code: 'E_VMDK_BAD_MAGIC', offset: 0 }), 20);
    current = await startInProcess(fake.convert);
    writeFileSync(join(current.watch, 'bad.img'), 'bad');
    await waitFor('.error.json', () => existsSync(join(current!.watch, '.errors', 'bad.img.error.json')), 30_000);
    expect(fake.calls).toHaveLength(1);
    const s = await current.daemon.snapshot();
    expect(s.total_failed).toBe(1);
    expect(s.total_retried).toBe(0);
  });

  it('pause holds queued jobs, resume releases them; stop cancels and leaves the source in place', async () => {
    const fake = fakeConverter(() => undefined, 5_000);
    current = await startInProcess(fake.convert, { max_concurrent_jobs: 1 });
    current.daemon['onControl']('pause');
    writeFileSync(join(current.watch, 'p.img'), 'p');
    await waitFor('queued', () => current!.events.find((e) => e.event === 'job_queued'), 10_000);
    await new Promise((r) => setTimeout(r, 400));
    expect(fake.calls).toHaveLength(0);
    expect((await current.daemon.snapshot()).current_queue_depth).toBe(1);
    await current.daemon['onControl']('resume');
    await waitFor('started', () => fake.calls.length === 1, 10_000);
    current.daemon.stop('test');
    expect(await current.running).toBe(0);
    current = undefined;
    expect(existsSync(join(tmp.dir, `d${n - 1}`, 'watch', 'p.img'))).toBe(true);
  });
});
