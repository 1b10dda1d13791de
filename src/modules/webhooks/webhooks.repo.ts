import { type Insertable, type Selectable, sql, type Updateable } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';
import type { WebhookAttemptsTable, WebhookEndpointsTable, WebhookMessagesTable } from '../../platform/db/schema.ts';
import type { Scope } from '../../platform/http/context.ts';

export type EndpointRow = Selectable<WebhookEndpointsTable>;
export type MessageRow = Selectable<WebhookMessagesTable>;
export type AttemptRow = Selectable<WebhookAttemptsTable>;

// ---------------------------------------------------------------------------------------------------------------
// Endpoints

/**
 * Bumped by every function here that may change which endpoints receive which events (insert, update, delete,
 * auto-disable), so a process that is the database's only writer can cache subscriptions (see outbox.ts).
 * Bumped before the write: a cache refilled in between only reloads once more.
 */
let endpointGeneration = 0;
export const endpointsGeneration = () => endpointGeneration;

export function insertEndpoint(db: Executor, row: Insertable<WebhookEndpointsTable>) {
  endpointGeneration++;
  return db.insertInto('webhook_endpoints').values(row).returningAll().executeTakeFirstOrThrow();
}

export function findEndpointById(db: Executor, scope: Scope, id: string, options: { forUpdate?: boolean } = {}) {
  let query = db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id);
  if (options.forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

export function findConfigEndpoint(db: Executor, scope: Scope) {
  return db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('source', '=', 'config')
    .forUpdate()
    .executeTakeFirst();
}

export async function listEndpoints(db: Executor, scope: Scope, page: { limit: number; offset: number }) {
  const base = db
    .selectFrom('webhook_endpoints')
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId);
  const [countRow, rows] = await Promise.all([
    base.select((eb) => eb.fn.countAll<string>().as('total')).executeTakeFirstOrThrow(),
    base
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(page.limit)
      .offset(page.offset)
      .execute(),
  ]);
  return { rows, total: Number(countRow.total) };
}

export function updateEndpointById(db: Executor, scope: Scope, id: string, changes: Updateable<WebhookEndpointsTable>) {
  endpointGeneration++;
  return db
    .updateTable('webhook_endpoints')
    .set(changes)
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteEndpointById(db: Executor, scope: Scope, id: string): Promise<boolean> {
  endpointGeneration++;
  const result = await db
    .deleteFrom('webhook_endpoints')
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Enabled endpoints of the environment with their event filters (an empty filter receives everything). */
export async function listEnabledEndpointFilters(db: Executor, scope: Scope) {
  const rows = await db
    .selectFrom('webhook_endpoints')
    .select(['id', 'event_types'])
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('enabled', '=', true)
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ id: r.id, eventTypes: r.event_types as string[] }));
}

// ---------------------------------------------------------------------------------------------------------------
// Messages and attempts (request side: always scoped)

export async function insertMessages(db: Executor, rows: Insertable<WebhookMessagesTable>[]) {
  await db.insertInto('webhook_messages').values(rows).execute();
}

export interface MessageFilter {
  limit: number;
  offset: number;
  event_type?: string | undefined;
  status?: string | undefined;
}

export async function listMessagesByEndpointId(db: Executor, scope: Scope, endpointId: string, filter: MessageFilter) {
  let base = db
    .selectFrom('webhook_messages')
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('endpoint_id', '=', endpointId);
  if (filter.event_type !== undefined) base = base.where('event_type', '=', filter.event_type);
  if (filter.status !== undefined) base = base.where('status', '=', filter.status as MessageRow['status']);
  const [countRow, rows] = await Promise.all([
    base.select((eb) => eb.fn.countAll<string>().as('total')).executeTakeFirstOrThrow(),
    base
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(filter.limit)
      .offset(filter.offset)
      .execute(),
  ]);
  return { rows, total: Number(countRow.total) };
}

export function findMessageById(db: Executor, scope: Scope, id: string, options: { forUpdate?: boolean } = {}) {
  let query = db
    .selectFrom('webhook_messages')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id);
  if (options.forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

export function listAttemptsByMessageId(db: Executor, scope: Scope, messageId: string) {
  return db
    .selectFrom('webhook_attempts')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('message_id', '=', messageId)
    .orderBy('attempted_at')
    .orderBy('id')
    .execute();
}

export function updateMessageById(db: Executor, scope: Scope, id: string, changes: Updateable<WebhookMessagesTable>) {
  return db
    .updateTable('webhook_messages')
    .set(changes)
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

// ---------------------------------------------------------------------------------------------------------------
// Delivery side. The worker serves every tenant, so these queries are keyed by message/endpoint id, not by scope.

export interface ClaimedMessage {
  id: string;
  tenant_id: string;
  environment_id: string;
  endpoint_id: string;
  event_type: string;
  payload: string;
  retry_started_at: Date;
  trigger: 'scheduled' | 'resend';
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  /** The endpoint's failing streak when claimed: a success only needs to clear it when it is set. */
  endpoint_failing_since: Date | null;
}

export interface ClaimRequest {
  now: Date;
  leaseUntil: Date;
  leaseId: string;
  /** At most this many messages per endpoint. */
  perEndpoint: number;
  /** At most this many endpoints. */
  endpointLimit: number;
  /** Endpoints this process is already sending to. */
  excludeEndpointIds: string[];
  /** Claim for this endpoint only. */
  endpointId?: string;
}

/**
 * Claims due messages of enabled endpoints, a few per endpoint, in one statement: rows another worker holds are
 * skipped (`SKIP LOCKED`), and claimed rows get a lease (`next_attempt_at` = end of lease, `lease_id`), so no other
 * worker takes them until the lease ends. One statement, so it is its own short transaction.
 */
export async function claimDueMessages(db: Executor, request: ClaimRequest): Promise<ClaimedMessage[]> {
  const onlyEndpoint = request.endpointId ? sql`and e.id = ${request.endpointId}` : sql``;
  const result = await sql<ClaimedMessage>`
    with picked as (
      select c.id
      from (
        select e.id
        from webhook_endpoints e
        where e.enabled
          and not (e.id = any(${request.excludeEndpointIds}::text[]))
          ${onlyEndpoint}
          and exists (
            select 1 from webhook_messages d
            where d.endpoint_id = e.id and d.status = 'pending' and d.next_attempt_at <= ${request.now}
          )
        limit ${request.endpointLimit}
      ) due_endpoint
      cross join lateral (
        select m.id
        from webhook_messages m
        where m.endpoint_id = due_endpoint.id and m.status = 'pending' and m.next_attempt_at <= ${request.now}
        order by m.next_attempt_at, m.id
        limit ${request.perEndpoint}
        for update skip locked
      ) c
    )
    update webhook_messages m
    set next_attempt_at = ${request.leaseUntil}, lease_id = ${request.leaseId}, updated_at = ${request.now}
    from picked, webhook_endpoints e
    where m.id = picked.id and e.id = m.endpoint_id
    returning m.id, m.tenant_id, m.environment_id, m.endpoint_id, m.event_type, m.payload, m.retry_started_at,
      m.next_trigger as trigger,
      e.url, e.secret, e.previous_secret, e.previous_secret_expires_at, e.failing_since as endpoint_failing_since
  `.execute(db);
  return result.rows;
}

/**
 * Which of these messages still exist, locked against deletion until the transaction ends (an endpoint deleted while
 * its messages were being sent takes them with it; their late results are dropped).
 */
export async function lockExistingMessageIds(db: Executor, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.selectFrom('webhook_messages').select('id').where('id', 'in', ids).forKeyShare().execute();
  return new Set(rows.map((r) => r.id));
}

export async function insertAttempts(db: Executor, rows: Insertable<WebhookAttemptsTable>[]) {
  if (rows.length > 0) await db.insertInto('webhook_attempts').values(rows).execute();
}

export interface MessageSettlement {
  id: string;
  status: MessageRow['status'];
  next_attempt_at: Date | null;
  last_attempt_at: Date;
  delivered_at: Date | null;
}

/**
 * Applies attempts' outcomes to their messages in one statement, only to messages the claim `leaseId` still holds
 * (a resend or an expired lease taken over by another worker wins over a late result).
 */
export async function settleMessages(db: Executor, leaseId: string, settlements: MessageSettlement[], now: Date) {
  if (settlements.length === 0) return;
  const values = sql.join(
    settlements.map(
      (s) =>
        sql`(${s.id}::varchar, ${s.status}::varchar, ${s.next_attempt_at}::timestamptz, ${s.last_attempt_at}::timestamptz, ${s.delivered_at}::timestamptz)`,
    ),
  );
  await sql`
    update webhook_messages m
    set status = v.status, next_attempt_at = v.next_attempt_at, last_attempt_at = v.last_attempt_at,
      delivered_at = coalesce(v.delivered_at, m.delivered_at), attempt_count = m.attempt_count + 1,
      lease_id = null, next_trigger = 'scheduled', updated_at = ${now}
    from (values ${values}) as v (id, status, next_attempt_at, last_attempt_at, delivered_at)
    where m.id = v.id and m.lease_id = ${leaseId}
  `.execute(db);
}

/** A success ends the endpoint's failing streak (no write when there is none, so successes do not contend). */
export async function clearEndpointFailing(db: Executor, endpointId: string) {
  await db
    .updateTable('webhook_endpoints')
    .set({ failing_since: null })
    .where('id', '=', endpointId)
    .where('failing_since', 'is not', null)
    .execute();
}

/** A failure starts the streak if none is running, and disables the endpoint once the streak is long enough. */
export async function markEndpointFailing(
  db: Executor,
  endpointId: string,
  at: Date,
  disableIfFailingSince: Date,
  reason: string,
) {
  endpointGeneration++;
  await db
    .updateTable('webhook_endpoints')
    .set({ failing_since: at })
    .where('id', '=', endpointId)
    .where('failing_since', 'is', null)
    .execute();
  await db
    .updateTable('webhook_endpoints')
    .set({ enabled: false, disabled_at: at, disabled_reason: reason, updated_at: at })
    .where('id', '=', endpointId)
    .where('enabled', '=', true)
    .where('failing_since', '<=', disableIfFailingSince)
    .execute();
}
