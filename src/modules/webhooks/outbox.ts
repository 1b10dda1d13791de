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

/** The transactional outbox every module emits its webhook events through. */
export function createOutbox(deps: { clock: Clock }): Outbox {
  return {
    async enqueue(tx, scope, type, input) {
      const endpoints = await repo.listEndpointIdsSubscribedTo(tx, scope, type);
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
