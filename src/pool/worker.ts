// Piscina worker entry: dispatches a task to its handler by kind. Never throws: the outcome
// carries either the value or a serialized error (codes survive the thread boundary).
import { loadAddon } from '../native/addon.js';
import { runConvertTask } from './tasks/convert-task.js';
import { runHashTask } from './tasks/hash-task.js';
import type { PoolTask, SerializedError, TaskHandler, TaskOutcome } from './task-types.js';

const handlers: Record<string, TaskHandler> = {
  convert: runConvertTask,
  hash: runHashTask,
  warm: async () => (loadAddon(), { ok: true, value: null }), // pool.ts warmPool: the thread up, modules and addon loaded
};

function serialize(err: unknown): SerializedError {
  const e = (err ?? {}) as Record<string, unknown>;
  return {
    code: typeof e.code === 'string' ? e.code : 'E_INTERNAL',
    message: typeof e.message === 'string' ? e.message : String(err),
    file: typeof e.file === 'string' ? e.file : undefined,
    offset: typeof e.offset === 'number' ? e.offset : undefined,
    hint: typeof e.hint === 'string' ? e.hint : undefined,
    stack: typeof e.stack === 'string' ? e.stack : undefined,
  };
}

export default async function run(task: PoolTask): Promise<TaskOutcome<unknown>> {
  const handler = handlers[task.kind];
  if (!handler) return { ok: false, error: { code: 'E_INTERNAL', message: `unknown pool task '${task.kind}'` } };
  try {
    return await handler(task);
  } catch (err) {
    return { ok: false, error: serialize(err) };
  }
}

export function registerHandler(kind: string, handler: TaskHandler): void {
  handlers[kind] = handler;
}
