// "Until the queue answers": a cluster's database away for a moment (restart, network cut) fails
// a call with E_QUEUE_UNREACHABLE (pg-errors.ts); the callers whose work must not be lost try it
// again, waiting 0.5 s doubling to 5 s, as long as their own condition holds.
import { setTimeout as sleep } from 'node:timers/promises';

export interface UntilQueueAnswersOptions {
  /** asked after each unreachable failure; false: that failure is thrown (default: always retry) */
  keepTrying?: () => boolean;
  /** told before each wait (the callers log it) */
  onRetry?: (err: Error, delayMs: number) => void;
  firstDelayMs?: number;
  maxDelayMs?: number;
}

/** Runs `attempt` until it settles with anything but E_QUEUE_UNREACHABLE, or `keepTrying` says no. */
export async function untilQueueAnswers<T>(attempt: () => Promise<T>, opts: UntilQueueAnswersOptions = {}): Promise<T> {
  const max = opts.maxDelayMs ?? 5000;
  for (let delay = opts.firstDelayMs ?? 500; ; delay = Math.min(delay * 2, max)) {
    try {
      return await attempt();
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'E_QUEUE_UNREACHABLE' || opts.keepTrying?.() === false) throw err;
      opts.onRetry?.(err as Error, delay);
      await sleep(delay);
    }
  }
}
