// Tasks between the main thread and pool workers. Outcomes carry errors as plain data because
// custom properties (code, hint) don't survive structured cloning of Error objects; the caller
// makes the one coded H2kError from it (pool.ts).
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
  /** Progress out, cancel in: a SharedProgress's slots (shared-progress.ts). */
  shared: BigInt64Array;
  [key: string]: unknown;
}

export type TaskHandler = (task: PoolTask) => Promise<TaskOutcome<unknown>>;
