// The job limit shared by every manifest and batch VM in flight: never more than N at once,
// FIFO for the rest, a failing job frees its slot.
import { describe, expect, it } from 'vitest';
import { JobLimiter } from '../src/workflow/job-limiter.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('JobLimiter', () => {
  it('runs at most N jobs at once, in arrival order, and frees slots on failure', async () => {
    const limiter = new JobLimiter(2);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const jobs = Array.from({ length: 7 }, (_, i) =>
      limiter.run(async () => {
        started.push(i);
        running++;
        peak = Math.max(peak, running);
        await sleep(10 + (i % 3) * 5);
        running--;
        if (i === 3) throw new Error('job 3 fails');
        return i;
      }),
    );
    const results = await Promise.allSettled(jobs);
    expect(peak).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    expect(limiter.active).toBe(0);
    expect(limiter.queued).toBe(0);
  });

  it('a raised limit (config reload) starts waiting jobs at once; a lowered one lets running jobs finish', async () => {
    const limiter = new JobLimiter(1);
    const release: Array<() => void> = [];
    const started: number[] = [];
    const jobs = [0, 1, 2, 3].map((i) => limiter.run(() => new Promise<void>((r) => (started.push(i), release.push(r)))));
    await sleep(5);
    expect(started).toEqual([0]);
    limiter.setLimit(3);
    await sleep(5);
    expect(started).toEqual([0, 1, 2]);
    limiter.setLimit(1);
    release.shift()!();
    release.shift()!();
    await sleep(5);
    expect(started).toEqual([0, 1, 2]); // two of three still running, above the new limit of one
    release.shift()!();
    await sleep(5);
    expect(started).toEqual([0, 1, 2, 3]);
    release.shift()!();
    await Promise.all(jobs);
    expect(limiter.active).toBe(0);
  });

  it('refuses a limit below one', () => {
    expect(() => new JobLimiter(0)).toThrow(RangeError);
  });
});
