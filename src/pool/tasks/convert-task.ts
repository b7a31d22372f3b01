// Worker side of a conversion. In a pool worker the conversion runs synchronously on the worker's
// own thread (addon convertSync): progress and cancel through the task's shared memory, an error
// comes back as data. On the main thread (one-shot CLI) it runs through the addon's async entry.
import { isMainThread } from 'node:worker_threads';
import { loadAddon, type NativeConvertRequest } from '../../native/addon.js';
import { awaitNativeJob, SharedProgress } from '../shared-progress.js';
import type { PoolTask, TaskOutcome } from '../task-types.js';

export async function runConvertTask(task: PoolTask): Promise<TaskOutcome<unknown>> {
  const request = task.request as NativeConvertRequest;
  const addon = loadAddon();
  if (!isMainThread) return addon.convertSync(request, task.shared);
  return { ok: true, value: await awaitNativeJob((onProgress) => addon.convert(request, onProgress), new SharedProgress(task.shared)) };
}
