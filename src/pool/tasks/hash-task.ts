// Worker side of a hash job: calls the addon, progress and cancel through the task's shared memory.
import { nativeHashContent, nativeHashFile, type NativeHashOptions } from '../../native/hash-api.js';
import type { HashAlgorithm } from '../../hash/algorithms.js';
import { awaitNativeJob, SharedProgress } from '../shared-progress.js';
import type { PoolTask, TaskOutcome } from '../task-types.js';

export interface HashTaskPayload {
  mode: 'file' | 'content';
  /** 'file' mode: several paths are hashed as one stream (their concatenation). */
  path: string | string[];
  algorithms: HashAlgorithm[];
  options?: NativeHashOptions;
}

export async function runHashTask(task: PoolTask): Promise<TaskOutcome<unknown>> {
  const { mode, path, algorithms, options } = task as unknown as HashTaskPayload & PoolTask;
  const value = await awaitNativeJob(
    (onProgress) =>
      mode === 'content'
        ? nativeHashContent(Array.isArray(path) ? path[0] : path, algorithms, options ?? {}, onProgress)
        : nativeHashFile(path, algorithms, options ?? {}, onProgress),
    new SharedProgress(task.shared),
  );
  return { ok: true, value };
}
