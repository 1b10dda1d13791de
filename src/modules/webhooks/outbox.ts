import type { Clock } from '../../platform/clock.ts';
import type { Tx } from '../../platform/db/database.ts';
import type { Scope } from '../../platform/http/context.ts';
import { newId } from '../../platform/ids.ts';
import { type EmittedEventType, type EventInput, renderPayload } from './webhook-events.ts';
import * as repo from './webhooks.repo.ts';

export interface Outbox {
  /**
   * Records an event for delivery, in the caller's transaction: one message per enabled endpoint of the environment
   * that subscribes to `type`, each with the payload rendered now (the state as of this change). A rollback of the
   * caller's transaction discards the messages; a commit makes them due at once. Returns the number of messages.
   * `input` may be a function (reading with `tx` only): it is then called only when some endpoint subscribes, so
   * events nobody receives cost one indexed query.
   */
  enqueue<K extends EmittedEventType>(
    tx: Tx,
    scope: Scope,
    type: K,
    input: EventInput<K> | (() => Promise<EventInput<K>>),
  ): Promise<number>;
}

/**
 * The transactional outbox every module emits its webhook events through.
 *
 * `singleWriter`: this process is the database's only writer (the embedded engine, whose data directory is locked
 * to one process), so it may keep each environment's subscriptions in memory instead of asking the database on
 * every event; every endpoint write in this process invalidates them. With PostgreSQL other processes may change
 * endpoints, so the outbox asks the database each time.
 */
export function createOutbox(deps: { clock: Clock; singleWriter?: boolean }): Outbox {
  type Filters = Array<{ id: string; eventTypes: string[] }>;
  const cache = new Map<string, Filters>();
  let cachedGeneration = -1;
  const perTransaction = new WeakMap<Tx, Map<string, Filters>>();

  /** Enabled endpoints of the environment that receive `type` (an empty filter receives everything). */
  async function subscribers(tx: Tx, scope: Scope, type: string): Promise<string[]> {
    const filters = await enabledEndpoints(tx, scope);
    return filters.filter((f) => f.eventTypes.length === 0 || f.eventTypes.includes(type)).map((f) => f.id);
  }

  async function enabledEndpoints(tx: Tx, scope: Scope): Promise<Filters> {
    if (!deps.singleWriter) {
      // Read once per transaction and environment: a transaction emitting many events (a batch of ledger writes)
      // asks once.
      let ofTx = perTransaction.get(tx);
      if (!ofTx) perTransaction.set(tx, (ofTx = new Map()));
      const key = `${scope.tenantId}/${scope.environmentId}`;
      let filters = ofTx.get(key);
      if (!filters) ofTx.set(key, (filters = await repo.listEnabledEndpointFilters(tx, scope)));
      return filters;
    }
    if (cachedGeneration !== repo.endpointsGeneration()) {
      cache.clear();
      cachedGeneration = repo.endpointsGeneration();
    }
    const key = `${scope.tenantId}/${scope.environmentId}`;
    let filters = cache.get(key);
    if (!filters) {
      const generation = repo.endpointsGeneration();
      filters = await repo.listEnabledEndpointFilters(tx, scope);
      // An endpoint write while reading: do not keep what may already be stale.
      if (generation === repo.endpointsGeneration()) cache.set(key, filters);
    }
    return filters;
  }

  return {
    async enqueue(tx, scope, type, input) {
      const endpoints = await subscribers(tx, scope, type);
      if (endpoints.length === 0) return 0;
      const resolved = typeof input === 'function' ? await (input as () => Promise<EventInput<typeof type>>)() : input;
      const payload = renderPayload(type, resolved);
      const now = deps.clock.now();
      const eventId = newId('systemEvent');
      await repo.insertMessages(
        tx,
        endpoints.map((endpointId) => ({
          id: newId('webhookMessage'),
          tenant_id: scope.tenantId,
          environment_id: scope.environmentId,
          endpoint_id: endpointId,
          event_id: eventId,
          event_type: type,
          payload,
          status: 'pending' as const,
          next_attempt_at: now,
          retry_started_at: now,
          created_at: now,
          updated_at: now,
        })),
      );
      return endpoints.length;
    },
  };
}
