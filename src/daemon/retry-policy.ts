// Which failures are worth another attempt, and when: retry_delay * backoff_multiplier^n.
import type { RetryPolicy } from '../config/daemon-schema.js';
import { TRANSIENT_CODES } from '../util/errors.js';

export function isTransient(code: string): boolean {
  return TRANSIENT_CODES.has(code);
}

/** Delay in ms before retry number `retryCount + 1` (retryCount = retries already done). */
export function retryDelayMs(policy: RetryPolicy, retryCount: number): number {
  return Math.round(policy.retry_delay * 1000 * Math.pow(policy.backoff_multiplier, retryCount));
}

/** True when a failure with this code after `retryCount` retries should be retried. */
export function shouldRetry(policy: RetryPolicy, code: string, retryCount: number): boolean {
  return policy.enabled && isTransient(code) && retryCount < policy.max_retries;
}
