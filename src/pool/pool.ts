// The process-wide Piscina pool. In the daemon, conversions and hashes run in its workers so the
// main event loop (socket, watcher) never blocks on image work; one-shot CLI commands run the same
// task handlers on the main thread instead (placement.ts), with the same limit.
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Piscina } from 'piscina';
import { H2kError } from '../util/errors.js';
import { tasksRunInline } from './placement.js';
import { SharedProgress, type TaskProgress } from './shared-progress.js';
import type { PoolTask, TaskOutcome } from './task-types.js';
import { onShutdown } from './shutdown.js';

let pool: Piscina | undefined;
let poolSize = 0;

let wanted = 0;

/** Sizes the pool; call before the first task (later calls grow it if needed). */
export function configurePool(maxThreads: number): void {
  wanted = Math.max(wanted, Math.max(1, Math.floor(maxThreads)));
  if (pool && wanted > poolSize) {
    pool.options.maxThreads = wanted;
    poolSize = wanted;
  }
}

/** The pool, started on first use (never when tasks run inline). */
async function getPool(): Promise<Piscina> {
  if (pool) return pool;
  const { Piscina } = await import('piscina');
  if (pool) return pool; // another task started it while piscina loaded
  poolSize = wanted || Math.max(2, availableParallelism());
  onShutdown(destroyPool);
  pool = new Piscina({
    filename: fileURLToPath(new URL('./worker.js', import.meta.url)),
    minThreads: 0,
    maxThreads: poolSize,
    idleTimeout: 30_000,
    // Jobs wait in our own queues (daemon scheduler); Piscina's queue only absorbs bursts.
    maxQueue: 'auto',
  });
  return pool;
}

// Inline tasks keep the pool's limit (`-j N` runs N at once), queued in arrival order.
let inlineRunning = 0;
const inlineWaiting: Array<() => void> = [];

/** The task on this thread, through the same handler and shared memory as in a worker. */
async function runHere(task: PoolTask): Promise<TaskOutcome<unknown>> {
  const limit = wanted || Math.max(2, availableParallelism());
  if (inlineRunning < limit) inlineRunning++;
  else await new Promise<void>((resolve) => inlineWaiting.push(resolve)); // a finishing task hands its slot over
  try {
    const { default: run } = await import('./worker.js');
    return await run(task);
  } finally {
    const next = inlineWaiting.shift();
    if (next) next();
    else inlineRunning--;
  }
}

export interface RunTaskOptions {
  signal?: AbortSignal;
  /** Called with the task's progress when it changed, at most every 100 ms, and once at the end. */
  onProgress?: (progress: TaskProgress) => void;
}

/**
 * Runs a task in a worker (or inline, placement.ts). Progress is read from, and abort raises the
 * cancel flag in, the task's shared memory; an error outcome becomes the one coded H2kError here.
 */
export async function runTask<T>(task: Omit<PoolTask, 'shared'>, options: RunTaskOptions = {}): Promise<T> {
  const shared = new SharedProgress();
  let last = '';
  const report = () => {
    const p = shared.read();
    const key = `${p.bytesDone}/${p.bytesTotal}/${p.phase}`;
    if (key !== last && p.bytesTotal + p.bytesDone > 0) options.onProgress?.(p);
    last = key;
  };
  const poll = options.onProgress ? setInterval(report, 100) : undefined;
  const onAbort = () => shared.cancel();
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let outcome: TaskOutcome<T>;
  try {
    const full = { ...task, shared: shared.slots } as PoolTask;
    outcome = (tasksRunInline() ? await runHere(full) : await (await getPool()).run(full)) as TaskOutcome<T>;
  } catch (err) {
    throw new H2kError(`worker failed: ${(err as Error)?.message ?? String(err)}`, { code: 'E_WORKER', cause: err });
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    clearInterval(poll);
  }
  if (!outcome.ok) {
    const e = outcome.error;
    throw new H2kError(e.message, { code: e.code, file: e.file, offset: e.offset, hint: e.hint });
  }
  if (options.onProgress) report();
  return outcome.value;
}

let warmedAt = 0;

/**
 * Starts the pool's threads ahead of their first task: one no-op task per thread, queued while the
 * threads start, makes Piscina start all of them. At most once a second; nothing when they all
 * run already or tasks run inline.
 */
export function warmPool(): void {
  if (tasksRunInline() || Date.now() - warmedAt < 1000 || (pool && pool.threads.length >= poolSize)) return;
  warmedAt = Date.now();
  void getPool()
    .then((p) => Promise.all(Array.from({ length: poolSize }, () => p.run({ kind: 'warm' }))))
    .catch(() => undefined); // a thread that fails to start fails the first real task, with its message
}

export async function destroyPool(): Promise<void> {
  const p = pool;
  pool = undefined;
  poolSize = 0;
  if (p) await p.destroy();
}
