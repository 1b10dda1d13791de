import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_RETRY_POLICY, decideAfterFailure, type RetryPolicy } from './retry-schedule.ts';

const start = new Date('2026-01-01T00:00:00Z');
const at = (ms: number) => new Date(start.getTime() + ms);

/** Every attempt fails: the times of all attempts until the message is given up. */
function schedule(policy: RetryPolicy, random: () => number): number[] {
  const times = [0];
  for (let i = 0; i < 1000; i++) {
    const decision = decideAfterFailure({ attemptedAt: at(times.at(-1)!), retryStartedAt: start }, policy, random);
    if (!decision.retry) return times;
    times.push(decision.nextAttemptAt.getTime() - start.getTime());
  }
  throw new Error('never gave up');
}

describe('retry schedule', () => {
  it('retries first within 10 s, even with the largest jitter', () => {
    const decision = decideAfterFailure({ attemptedAt: start, retryStartedAt: start }, DEFAULT_RETRY_POLICY, () => 1);
    assert.ok(decision.retry);
    assert.ok(decision.nextAttemptAt.getTime() - start.getTime() <= 10_000);
  });

  it('roughly doubles the delay up to the cap', () => {
    const times = schedule(DEFAULT_RETRY_POLICY, () => 0.5);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    assert.deepEqual(gaps.slice(0, 6), [5_000, 5_000, 10_000, 20_000, 40_000, 80_000]);
    assert.ok(gaps.every((gap) => gap <= DEFAULT_RETRY_POLICY.maxDelayMs));
    assert.equal(Math.max(...gaps), DEFAULT_RETRY_POLICY.maxDelayMs);
  });

  for (const [name, random] of [
    ['no jitter', () => 0.5],
    ['shortest jitter', () => 0],
    ['longest jitter', () => 0.999],
    ['random jitter', Math.random],
  ] as const) {
    it(`keeps retrying for at least the horizon and stops soon after (${name})`, () => {
      const times = schedule(DEFAULT_RETRY_POLICY, random);
      const last = times.at(-1)!;
      assert.ok(last >= DEFAULT_RETRY_POLICY.horizonMs);
      assert.ok(last < DEFAULT_RETRY_POLICY.horizonMs + DEFAULT_RETRY_POLICY.maxDelayMs * 1.2 + 1);
      assert.ok(times.length < 40, `${times.length} attempts`);
    });
  }

  it('follows a configured horizon', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, horizonMs: 60 * 60 * 1000 };
    const last = schedule(policy, () => 0.5).at(-1)!;
    assert.ok(last >= policy.horizonMs && last < 2 * policy.horizonMs);
  });

  it('gives up on an attempt after the horizon', () => {
    const decision = decideAfterFailure(
      { attemptedAt: at(DEFAULT_RETRY_POLICY.horizonMs), retryStartedAt: start },
      DEFAULT_RETRY_POLICY,
    );
    assert.equal(decision.retry, false);
  });
});
