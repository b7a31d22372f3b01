// Worker side of a conversion: calls the addon directly, forwards progress, honours cancel.
import { loadAddon, type NativeConvertRequest } from '../../native/addon.js';
import type { PoolTask } from '../task-types.js';

export async function runConvertTask(task: PoolTask): Promise<unknown> {
  const request = task.request as NativeConvertRequest;
  const port = task.port;
  let lastPost = 0;
  const handle = loadAddon().convert(request, (p) => {
    const now = Date.now();
    if (port && (now - lastPost >= 100 || p.bytesDone === p.bytesTotal)) {
      lastPost = now;
      port.postMessage({ type: 'progress', progress: p });
    }
  });
  port?.on('message', (m: { type?: string }) => {
    if (m?.type === 'cancel') handle.cancel();
  });
  try {
    return await handle.promise;
  } finally {
    port?.close();
  }
}
