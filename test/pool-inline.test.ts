// One-shot commands run pool tasks on the main thread (src/pool/placement.ts): the same handler
// and shared memory as in a worker, and the pool's limit still holds (-j N runs N at once).
import { describe, expect, it } from 'vitest';
import { runTasksInline } from '../src/pool/placement.js';
import { configurePool, runTask } from '../src/pool/pool.js';
import { registerHandler } from '../src/pool/worker.js';
import type { PoolTask } from '../src/pool/task-types.js';
import { SharedProgress } from '../src/pool/shared-progress.js';

describe('inline pool tasks', () => {
  it('run on this thread, at most the configured number at once, in arrival order', async () => {
    runTasksInline(true);
    configurePool(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    registerHandler('probe', async (task: PoolTask) => {
      started.push((task as unknown as { n: number }).n);
      running++;
      most = Math.max(most, running);
      new SharedProgress(task.shared).publish({ bytesDone: 1, bytesTotal: 2 });
      await new Promise((r) => setTimeout(r, 30));
      running--;
      return { ok: true, value: (task as unknown as { n: number }).n * 10 };
    });
    const messages: unknown[] = [];
    const results = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((n) => runTask<number>({ kind: 'probe', n } as unknown as Omit<PoolTask, 'shared'>, { onProgress: (p) => messages.push(p) })),
    );
    expect(results).toEqual([10, 20, 30, 40, 50, 60]);
    expect(most).toBe(2);
    expect(started).toEqual([1, 2, 3, 4, 5, 6]);
    expect(messages).toHaveLength(6); // each task's last progress, read from its shared memory
  });
});
