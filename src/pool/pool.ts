// The process-wide Piscina pool. In the daemon, conversions and hashes run in its workers so the
// main event loop (socket, watcher) never blocks on image work; one-shot CLI commands run the same
// task handlers on the main thread instead (placement.ts), with the same limit.
import { availableParallelism } from 'node:os';
import { MessageChannel } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { Piscina } from 'piscina';
import { H2kError } from '../util/errors.js';
import { tasksRunInline } from './placement.js';
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

/** The task on this thread, through the same handler and message port as in a worker. */
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
  onMessage?: (message: unknown) => void;
}

/** Runs a task in a worker. Abort sends {type:'cancel'} to the worker, which stops the native job. */
export async function runTask<T>(task: Omit<PoolTask, 'port'>, options: RunTaskOptions = {}): Promise<T> {
  const { port1, port2 } = new MessageChannel();
  port1.on('message', (m) => options.onMessage?.(m));
  const onAbort = () => port1.postMessage({ type: 'cancel' });
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const outcome = (
      tasksRunInline()
        ? await runHere({ ...task, port: port2 } as PoolTask)
        : await (await getPool()).run({ ...task, port: port2 }, { transferList: [port2] })
    ) as TaskOutcome<T>;
    if (outcome.ok) return outcome.value;
    const e = outcome.error;
    throw new H2kError(e.message, { code: e.code, file: e.file, offset: e.offset, hint: e.hint });
  } catch (err) {
    if (err instanceof H2kError) throw err;
    throw new H2kError(`worker failed: ${(err as Error)?.message ?? String(err)}`, { code: 'E_WORKER', cause: err });
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    port1.close();
  }
}

export async function destroyPool(): Promise<void> {
  const p = pool;
  pool = undefined;
  poolSize = 0;
  if (p) await p.destroy();
}
