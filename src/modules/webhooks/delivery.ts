import type { BackgroundTask } from '../../platform/background/runner.ts';
import type { Clock } from '../../platform/clock.ts';
import { type Db, withTransaction } from '../../platform/db/database.ts';
import { newId } from '../../platform/ids.ts';
import { DEFAULT_RETRY_POLICY, decideAfterFailure, type RetryPolicy } from './retry-schedule.ts';
import { signedHeaders } from './signing.ts';
import * as repo from './webhooks.repo.ts';

export interface DeliveryOptions {
  /** Messages sent at once to one endpoint by one process. */
  perEndpointConcurrency: number;
  /** Messages one claim takes for one endpoint (sent `perEndpointConcurrency` at a time, recorded together). */
  batchSize: number;
  /** Endpoints one process sends to at once. */
  maxEndpoints: number;
  /** A 2xx within this time is a success; anything else is a failed attempt. */
  timeoutMs: number;
  /**
   * How long a claim holds its messages; a worker that dies mid-send releases them when this ends. By default long
   * enough for a whole batch of timeouts.
   */
  leaseMs?: number | undefined;
  /** How often the background task looks for due messages when idle. */
  pollIntervalMs: number;
  /** An endpoint whose attempts have all failed for this long is disabled. */
  disableAfterMs: number;
  retry: RetryPolicy;
  /** For the retry jitter. */
  random: () => number;
}

export const DEFAULT_DELIVERY_OPTIONS: DeliveryOptions = {
  perEndpointConcurrency: 8,
  batchSize: 32,
  maxEndpoints: 32,
  timeoutMs: 15_000,
  pollIntervalMs: 100,
  disableAfterMs: 5 * 24 * 60 * 60 * 1000,
  retry: DEFAULT_RETRY_POLICY,
  random: Math.random,
};

export const USER_AGENT = 'Tally-Webhooks/0.1 (+https://www.standardwebhooks.com)';
const EXCERPT_BYTES = 1024;

interface AttemptOutcome {
  message: repo.ClaimedMessage;
  attemptedAt: Date;
  statusCode: number | null;
  latencyMs: number;
  responseExcerpt: string;
  error: string;
  succeeded: boolean;
}

/** Reads at most `limit` bytes of a response body and drops the rest. */
async function readExcerpt(response: Response, limit: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

function errorText(error: unknown): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'timeout';
  const cause = e?.cause?.code ?? e?.cause?.message;
  return [e?.message ?? String(error), cause].filter(Boolean).join(': ').slice(0, 500);
}

export interface DeliveryWorker {
  /** The periodic task main.ts runs: starts sends for due messages and returns without waiting for slow endpoints. */
  task: BackgroundTask;
  /** Delivers everything due now and waits for every send and its record (tests, scripts). */
  runOnce(): Promise<void>;
}

/**
 * Webhook delivery. A claim (one short transaction) takes a few due messages per endpoint; each endpoint then has
 * its own lane in this process that sends its messages concurrently (at most `perEndpointConcurrency`) outside any
 * transaction, records the outcomes in one short transaction and claims that endpoint's next due messages. A slow or
 * dead endpoint thus only occupies its own lane. All state lives in the messages' rows: a restart, a crash (the
 * lease runs out) or another process on the same PostgreSQL picks up where this one stopped.
 */
export function createDeliveryWorker(deps: {
  db: Db;
  clock: Clock;
  options?: Partial<DeliveryOptions>;
}): DeliveryWorker {
  const { db, clock } = deps;
  const options: DeliveryOptions = { ...DEFAULT_DELIVERY_OPTIONS, ...deps.options };
  const leaseMs =
    options.leaseMs ?? Math.ceil(options.batchSize / options.perEndpointConcurrency) * options.timeoutMs + 30_000;
  const lanes = new Map<string, Promise<void>>();
  const laneErrors: unknown[] = [];
  let stopped = false;

  async function send(message: repo.ClaimedMessage): Promise<AttemptOutcome> {
    const attemptedAt = clock.now();
    const secrets = [message.secret];
    if (
      message.previous_secret &&
      message.previous_secret_expires_at &&
      message.previous_secret_expires_at > attemptedAt
    ) {
      secrets.push(message.previous_secret);
    }
    // The signature timestamp is the real sending time: receivers compare it with their own clock.
    const headers = {
      ...signedHeaders(message.id, message.payload, secrets, new Date()),
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
    };
    const started = performance.now();
    try {
      const response = await fetch(message.url, {
        method: 'POST',
        headers,
        body: message.payload,
        redirect: 'manual',
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      const responseExcerpt = await readExcerpt(response, EXCERPT_BYTES);
      const succeeded = response.status >= 200 && response.status < 300;
      return {
        message,
        attemptedAt,
        statusCode: response.status,
        latencyMs: Math.round(performance.now() - started),
        responseExcerpt,
        error: succeeded ? '' : `HTTP ${response.status}`,
        succeeded,
      };
    } catch (error) {
      return {
        message,
        attemptedAt,
        statusCode: null,
        latencyMs: Math.round(performance.now() - started),
        responseExcerpt: '',
        error: errorText(error),
        succeeded: false,
      };
    }
  }

  async function record(outcomes: AttemptOutcome[], leaseId: string) {
    const all = outcomes.map((outcome) => {
      const decision = outcome.succeeded
        ? undefined
        : decideAfterFailure(
            { attemptedAt: outcome.attemptedAt, retryStartedAt: outcome.message.retry_started_at },
            options.retry,
            options.random,
          );
      return { ...outcome, nextAttemptAt: decision?.retry ? decision.nextAttemptAt : null };
    });
    await withTransaction(db, async (tx) => {
      const existing = await repo.lockExistingMessageIds(
        tx,
        all.map((outcome) => outcome.message.id),
      );
      const decided = all.filter((outcome) => existing.has(outcome.message.id));
      if (decided.length === 0) return;
      await repo.insertAttempts(
        tx,
        decided.map((outcome) => ({
          id: newId('webhookAttempt'),
          tenant_id: outcome.message.tenant_id,
          environment_id: outcome.message.environment_id,
          message_id: outcome.message.id,
          endpoint_id: outcome.message.endpoint_id,
          attempted_at: outcome.attemptedAt,
          status_code: outcome.statusCode,
          latency_ms: outcome.latencyMs,
          response_excerpt: outcome.responseExcerpt,
          error: outcome.error,
          succeeded: outcome.succeeded,
          next_attempt_at: outcome.nextAttemptAt,
          trigger: outcome.message.trigger,
        })),
      );
      await repo.settleMessages(
        tx,
        leaseId,
        decided.map((outcome) => ({
          id: outcome.message.id,
          status: outcome.succeeded ? 'succeeded' : outcome.nextAttemptAt ? 'pending' : 'failed',
          next_attempt_at: outcome.nextAttemptAt,
          last_attempt_at: outcome.attemptedAt,
          delivered_at: outcome.succeeded ? outcome.attemptedAt : null,
        })),
        clock.now(),
      );
      const endpointId = decided[0]!.message.endpoint_id;
      const failures = decided.filter((outcome) => !outcome.succeeded).map((outcome) => outcome.attemptedAt);
      if (failures.length < decided.length) {
        if (decided[0]!.message.endpoint_failing_since) await repo.clearEndpointFailing(tx, endpointId);
      } else {
        const lastFailure = new Date(Math.max(...failures.map((at) => at.getTime())));
        const days = Math.round((options.disableAfterMs / 86_400_000) * 10) / 10;
        await repo.markEndpointFailing(
          tx,
          endpointId,
          lastFailure,
          new Date(lastFailure.getTime() - options.disableAfterMs),
          `disabled after every delivery attempt failed for ${days} days`,
        );
      }
    });
  }

  /** Sends a batch with at most `perEndpointConcurrency` requests in flight. */
  async function sendAll(batch: repo.ClaimedMessage[]): Promise<AttemptOutcome[]> {
    const outcomes: AttemptOutcome[] = new Array(batch.length);
    let next = 0;
    const workers = Array.from({ length: Math.min(options.perEndpointConcurrency, batch.length) }, async () => {
      while (next < batch.length) {
        const index = next++;
        outcomes[index] = await send(batch[index]!);
      }
    });
    await Promise.all(workers);
    return outcomes;
  }

  /**
   * Sends the endpoint's batch, then its next ones while there is a backlog (full batches). A lane that has caught
   * up ends: the next tick, a poll interval later, starts it again with what accumulated, so a steady trickle of
   * events costs a few claims per second rather than one per message.
   */
  async function runLane(endpointId: string, first: repo.ClaimedMessage[], leaseId: string) {
    let batch = first;
    let lease = leaseId;
    while (batch.length > 0) {
      const outcomes = await sendAll(batch);
      await record(outcomes, lease);
      if (stopped || batch.length < options.batchSize) return;
      lease = newId('job');
      batch = await claimFor(endpointId, lease);
    }
  }

  async function claimFor(endpointId: string, leaseId: string) {
    const now = clock.now();
    return repo.claimDueMessages(db, {
      now,
      leaseUntil: new Date(now.getTime() + leaseMs),
      leaseId,
      perEndpoint: options.batchSize,
      endpointLimit: 1,
      excludeEndpointIds: [],
      endpointId,
    });
  }

  /** Claims for endpoints without a lane in this process and starts their lanes; returns how many were claimed. */
  async function tick(): Promise<number> {
    if (stopped || lanes.size >= options.maxEndpoints) return 0;
    const leaseId = newId('job');
    const now = clock.now();
    const claimed = await repo.claimDueMessages(db, {
      now,
      leaseUntil: new Date(now.getTime() + leaseMs),
      leaseId,
      perEndpoint: options.batchSize,
      endpointLimit: options.maxEndpoints - lanes.size,
      excludeEndpointIds: [...lanes.keys()],
    });
    const byEndpoint = new Map<string, repo.ClaimedMessage[]>();
    for (const message of claimed) {
      const list = byEndpoint.get(message.endpoint_id) ?? [];
      list.push(message);
      byEndpoint.set(message.endpoint_id, list);
    }
    for (const [endpointId, messages] of byEndpoint) {
      const lane = runLane(endpointId, messages, leaseId)
        .catch((error: unknown) => {
          laneErrors.push(error);
        })
        .finally(() => lanes.delete(endpointId));
      lanes.set(endpointId, lane);
    }
    return claimed.length;
  }

  function throwLaneError() {
    const error = laneErrors.shift();
    laneErrors.length = 0;
    if (error) throw error;
  }

  return {
    task: {
      name: 'webhook-delivery',
      intervalMs: options.pollIntervalMs,
      async run() {
        throwLaneError();
        return (await tick()) > 0;
      },
      async stop() {
        stopped = true;
        await Promise.allSettled([...lanes.values()]);
      },
    },
    async runOnce() {
      for (let round = 0; round < 1000; round++) {
        const claimed = await tick();
        await Promise.all([...lanes.values()]);
        throwLaneError();
        if (claimed === 0) return;
      }
    },
  };
}
