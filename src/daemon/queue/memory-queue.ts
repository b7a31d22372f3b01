// Single-host JobQueue: a FIFO in this process. Finished jobs are forgotten (the dedup store and
// report.json keep the history), so memory stays bounded by what is waiting or running.
import type { Job, JobQueue, JobSpec, QueueCounts } from './job-queue.js';

export class MemoryJobQueue implements JobQueue {
  private readonly jobs = new Map<string, Job>();

  async enqueue(spec: JobSpec): Promise<boolean> {
    if (this.jobs.has(spec.id)) return false;
    this.jobs.set(spec.id, { ...spec, files: [...spec.files], state: 'waiting', retryCount: 0, notBefore: 0 });
    return true;
  }

  async claim(now: number): Promise<Job | undefined> {
    // Map iteration order is insertion order: oldest first.
    for (const job of this.jobs.values()) {
      if (job.state === 'waiting' && job.notBefore <= now) {
        job.state = 'running';
        return { ...job, files: [...job.files] };
      }
    }
    return undefined;
  }

  async complete(id: string): Promise<void> {
    this.jobs.delete(id);
  }

  async fail(id: string): Promise<void> {
    this.jobs.delete(id);
  }

  async retryAt(id: string, at: number, error: { code: string; message: string }): Promise<void> {
    const job = this.jobs.get(id);
    if (!job) return;
    // Re-insert at the end so a retrying job does not jump ahead of newer work.
    this.jobs.delete(id);
    this.jobs.set(id, { ...job, state: 'waiting', retryCount: job.retryCount + 1, notBefore: at, lastError: error });
  }

  async release(id: string): Promise<void> {
    const job = this.jobs.get(id);
    if (job) job.state = 'waiting';
  }

  async nextDueAt(now: number): Promise<number | undefined> {
    let next: number | undefined;
    for (const job of this.jobs.values())
      if (job.state === 'waiting' && job.notBefore > now && (next === undefined || job.notBefore < next)) next = job.notBefore;
    return next;
  }

  async counts(now: number): Promise<QueueCounts> {
    const c: QueueCounts = { waiting: 0, retryWaiting: 0, running: 0 };
    for (const job of this.jobs.values()) {
      if (job.state === 'running') c.running++;
      else if (job.state === 'waiting') {
        c.waiting++;
        if (job.notBefore > now) c.retryWaiting++;
      }
    }
    return c;
  }

  async has(id: string): Promise<boolean> {
    return this.jobs.has(id);
  }
}
