// untilQueueAnswers, the one retry loop behind the scheduler's outcome update, the watch folder's
// enqueue and the lease fence: only E_QUEUE_UNREACHABLE is retried, waits double up to the cap,
// and the caller's condition ends it. Fake failures; no database.
import { describe, expect, it } from 'vitest';
import { untilQueueAnswers } from '../src/daemon/queue/queue-retry.js';
import { H2kError } from '../src/util/errors.js';

const unreachable = () => new H2kError('queue database unreachable: connection refused', { code: 'E_QUEUE_UNREACHABLE' });

/** An attempt that fails unreachable `n` times, then answers `value`. */
function failing<T>(n: number, value: T) {
  let calls = 0;
  const attempt = async () => {
    calls++;
    if (calls <= n) throw unreachable();
    return value;
  };
  return { attempt, calls: () => calls };
}

describe('untilQueueAnswers', () => {
  it('retries unreachable failures with doubling waits up to the cap, then returns the answer', async () => {
    const f = failing(5, 'queued');
    const waits: number[] = [];
    const t0 = Date.now();
    const messages: string[] = [];
    const onRetry = (e: Error, ms: number) => void (waits.push(ms), messages.push(e.message));
    const got = await untilQueueAnswers(f.attempt, { onRetry, firstDelayMs: 10, maxDelayMs: 40 });
    expect(got).toBe('queued');
    expect(f.calls()).toBe(6);
    expect(waits).toEqual([10, 20, 40, 40, 40]);
    expect(messages.every((m) => /unreachable/.test(m))).toBe(true);
    // the waits are really waited
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150 - 5);
  });

  it('waits 0.5 s first by default', async () => {
    const f = failing(1, 1);
    const waits: number[] = [];
    const t0 = Date.now();
    await untilQueueAnswers(f.attempt, { onRetry: (_e, ms) => void waits.push(ms) });
    expect(waits).toEqual([500]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(495);
  });

  it('throws any other error at once, untried again', async () => {
    let calls = 0;
    const lost = new H2kError('lease lost', { code: 'E_QUEUE_LEASE_LOST' });
    const retried: number[] = [];
    await expect(
      untilQueueAnswers(async () => {
        calls++;
        throw lost;
      }, { onRetry: (_e, ms) => void retried.push(ms), firstDelayMs: 1 }),
    ).rejects.toBe(lost);
    expect(calls).toBe(1);
    expect(retried).toEqual([]);
  });

  it('throws the unreachable error once keepTrying says no, without waiting again', async () => {
    const f = failing(100, 'never');
    let asked = 0;
    const err = await untilQueueAnswers(f.attempt, { keepTrying: () => ++asked < 3, firstDelayMs: 1, maxDelayMs: 1 }).catch((e: H2kError) => e);
    expect((err as H2kError).code).toBe('E_QUEUE_UNREACHABLE');
    expect(f.calls()).toBe(3);
    expect(asked).toBe(3);
  });

  it('answers on the first try without asking keepTrying or waiting', async () => {
    let asked = 0;
    const got = await untilQueueAnswers(async () => 7, { keepTrying: () => (asked++, true), onRetry: () => expect.unreachable() });
    expect(got).toBe(7);
    expect(asked).toBe(0);
  });
});
