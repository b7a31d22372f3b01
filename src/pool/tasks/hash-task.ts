// Worker side of a hash job: calls the addon directly, forwards progress, honours cancel.
import { nativeHashContent, nativeHashFile, type NativeHashOptions } from '../../native/hash-api.js';
import type { HashAlgorithm } from '../../hash/algorithms.js';
import type { PoolTask } from '../task-types.js';

export interface HashTaskPayload {
  mode: 'file' | 'content';
  /** 'file' mode: several paths are hashed as one stream (their concatenation). */
  path: string | string[];
  algorithms: HashAlgorithm[];
  options?: NativeHashOptions;
}

export async function runHashTask(task: PoolTask): Promise<unknown> {
  const { mode, path, algorithms, options } = task as unknown as HashTaskPayload & PoolTask;
  const port = task.port;
  let lastPost = 0;
  const onProgress = port
    ? (p: { bytesDone: number; bytesTotal: number }) => {
        const now = Date.now();
        if (now - lastPost >= 100 || p.bytesDone === p.bytesTotal) {
          lastPost = now;
          port.postMessage({ type: 'progress', progress: p });
        }
      }
    : undefined;
  const handle =
    mode === 'content'
      ? nativeHashContent(Array.isArray(path) ? path[0] : path, algorithms, options ?? {}, onProgress)
      : nativeHashFile(path, algorithms, options ?? {}, onProgress);
  port?.on('message', (m: { type?: string }) => {
    if (m?.type === 'cancel') handle.cancel();
  });
  try {
    return await handle.promise;
  } finally {
    port?.close();
  }
}
