/**
 * When to retry a failed delivery (pure). The delay before the next attempt equals the time already spent retrying,
 * bounded below by `firstDelayMs` and above by `maxDelayMs`, with ±`jitter` spread: 5 s, 5 s, 10 s, 20 s, 40 s, …
 * doubling up to the cap (exponential backoff with no counter to keep). Retrying stops after the first attempt that
 * fails once `horizonMs` has passed since the retries started, so a message is retried for at least the horizon.
 */
export interface RetryPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
  horizonMs: number;
  /** Fraction of the delay added or removed at random (0.2 = ±20%). */
  jitter: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  firstDelayMs: 5_000,
  maxDelayMs: 6 * 60 * 60 * 1000,
  horizonMs: 72 * 60 * 60 * 1000,
  jitter: 0.2,
};

export type RetryDecision = { retry: true; nextAttemptAt: Date } | { retry: false };

export function decideAfterFailure(
  attempt: { attemptedAt: Date; retryStartedAt: Date },
  policy: RetryPolicy,
  random: () => number = Math.random,
): RetryDecision {
  const elapsedMs = Math.max(0, attempt.attemptedAt.getTime() - attempt.retryStartedAt.getTime());
  if (elapsedMs >= policy.horizonMs) return { retry: false };
  const baseMs = Math.min(policy.maxDelayMs, Math.max(policy.firstDelayMs, elapsedMs));
  const spread = 1 + policy.jitter * (2 * random() - 1);
  const delayMs = Math.max(1, Math.round(baseMs * spread));
  return { retry: true, nextAttemptAt: new Date(attempt.attemptedAt.getTime() + delayMs) };
}
