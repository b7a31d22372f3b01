// The seam between the scheduler and where jobs live. The single-host default keeps them in
// memory (memory-queue.ts); a PostgreSQL queue (FOR UPDATE SKIP LOCKED) can implement the same
// interface. Nothing outside src/daemon/queue/ may assume jobs are in memory: every call is async
// and jobs are plain data that survive serialization.

/** A job of the manifest workflow (src/workflow/manifest-jobs.ts): taking a manifest out of
 * to_be_processed/, or one VM of a taken manifest's run. */
export type ManifestJobRef =
  | { kind: 'take'; name: string; recovered?: boolean }
  | { kind: 'vm'; name: string; run: string; vm: number; vms: number };

/** What the watcher discovers: one convertible image, possibly several files (VMDK descriptor + extents). */
export interface JobSpec {
  /** stable identity: the primary file's absolute path */
  id: string;
  /** the file handed to the converter (descriptor for multi-file VMDK) */
  primary: string;
  /** every file the job consumes, primary first; all move to .processed/ or .errors/ together */
  files: string[];
  /** lower-case extension without the dot (vmdk, raw, ...), the stats/metrics label */
  fileType: string;
  /** total bytes of all files */
  sizeBytes: number;
  /** ISO time the job was queued */
  queuedAt: string;
  /** manifest workflow jobs only */
  manifest?: ManifestJobRef;
}

export type JobState = 'waiting' | 'running' | 'done' | 'failed';

export interface Job extends JobSpec {
  state: JobState;
  /** attempts already finished with a (transient) error */
  retryCount: number;
  /** epoch ms before which the job is not claimed (retry backoff) */
  notBefore: number;
  lastError?: { code: string; message: string };
}

export interface QueueCounts {
  /** waiting and due or not yet due (includes retry backoff) */
  waiting: number;
  /** waiting only because of retry backoff */
  retryWaiting: number;
  running: number;
}

export interface JobQueue {
  /** Adds a job; false when a job with this id is already waiting or running. */
  enqueue(spec: JobSpec): Promise<boolean>;
  /** Marks the oldest due waiting job as running and returns it. */
  claim(now: number): Promise<Job | undefined>;
  complete(id: string): Promise<void>;
  fail(id: string, error: { code: string; message: string }): Promise<void>;
  /** Puts a running job back to waiting until `at` (epoch ms), counting one more retry. */
  retryAt(id: string, at: number, error: { code: string; message: string }): Promise<void>;
  /** Puts a running job back to waiting without counting a retry (cancelled by stop). */
  release(id: string): Promise<void>;
  /** epoch ms of the earliest not-yet-due waiting job, if any */
  nextDueAt(now: number): Promise<number | undefined>;
  counts(now: number): Promise<QueueCounts>;
  /** true when the id is waiting or running */
  has(id: string): Promise<boolean>;
}
