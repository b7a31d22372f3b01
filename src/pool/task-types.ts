// Messages between the main thread and pool workers. Errors travel as plain data because
// custom properties (code, hint) don't survive structured cloning of Error objects.
import type { MessagePort } from 'node:worker_threads';

export interface SerializedError {
  code: string;
  message: string;
  file?: string;
  offset?: number;
  hint?: string;
  stack?: string;
}

export type TaskOutcome<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

export interface PoolTask {
  kind: string;
  /** Progress messages go out and a {type:'cancel'} message comes in on this port. */
  port?: MessagePort;
  [key: string]: unknown;
}

export type TaskHandler = (task: PoolTask) => Promise<unknown>;
