import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Clock } from '../clock.ts';
import type { Db } from '../db/database.ts';
import { AppError, validation } from '../errors.ts';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
const RETENTION_MS = 24 * 60 * 60 * 1000;
/** An in-progress claim older than this belongs to a process that died; a new request may take it over. */
const ABANDONED_AFTER_MS = 5 * 60 * 1000;
const WAIT_FOR_FIRST_MS = 20_000;
const POLL_MS = 20;

interface IdempotencyClaim {
  key: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    idempotency?: IdempotencyClaim;
  }
}

/** Canonical JSON (sorted keys) so the same body with other whitespace or key order is the same request. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

function requestHash(request: FastifyRequest): string {
  return createHash('sha256').update(canonical(request.body)).digest('hex');
}

/**
 * `Idempotency-Key` on every POST: the first response (status and body) is stored for 24 hours and replayed for
 * the same key with `Idempotent-Replayed: true`; the same key with another body or path is a 409; a request that
 * arrives while the first is still running waits for its response, so the work executes once.
 * 5xx responses are not stored (the key is released so the client can retry).
 */
export function installIdempotency(app: FastifyInstance, deps: { db: Db; clock: Clock }): void {
  const { db, clock } = deps;

  app.addHook('preValidation', async (request, reply) => {
    if (request.method !== 'POST' || !request.ctx) return;
    const header = request.headers[IDEMPOTENCY_HEADER];
    const key = Array.isArray(header) ? header[0] : header;
    if (key === undefined) return;
    if (key.length < 1 || key.length > 255) throw validation('Idempotency-Key must be 1 to 255 characters');
    const { tenantId, environmentId } = request.ctx;
    const path = request.url.split('?')[0] ?? request.url;
    const hash = requestHash(request);
    const deadline = Date.now() + WAIT_FOR_FIRST_MS;

    for (;;) {
      const now = clock.now();
      const inserted = await db
        .insertInto('idempotency_keys')
        .values({
          tenant_id: tenantId,
          environment_id: environmentId,
          key,
          method: request.method,
          path,
          request_hash: hash,
          state: 'in_progress',
          locked_at: now,
          created_at: now,
          expires_at: new Date(now.getTime() + RETENTION_MS),
        })
        .onConflict((oc) => oc.doNothing())
        .returning('key')
        .executeTakeFirst();
      if (inserted) {
        request.idempotency = { key };
        return;
      }
      const existing = await db
        .selectFrom('idempotency_keys')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('environment_id', '=', environmentId)
        .where('key', '=', key)
        .executeTakeFirst();
      if (!existing) continue;
      // locked_at was written from the same clock, so compare with it (not the wall clock: under a moved test clock
      // every claim looked abandoned and concurrent requests with one key all executed).
      const abandoned =
        existing.state === 'in_progress' && now.getTime() - existing.locked_at.getTime() > ABANDONED_AFTER_MS;
      if (existing.expires_at.getTime() <= now.getTime() || abandoned) {
        await db
          .deleteFrom('idempotency_keys')
          .where('tenant_id', '=', tenantId)
          .where('environment_id', '=', environmentId)
          .where('key', '=', key)
          .where('locked_at', '=', existing.locked_at)
          .execute();
        continue;
      }
      if (existing.method !== request.method || existing.path !== path || existing.request_hash !== hash) {
        throw new AppError('already_exists', 'Idempotency-Key was already used with a different request', {
          idempotency_key: key,
        });
      }
      if (existing.state === 'completed') {
        reply.header('idempotent-replayed', 'true');
        if (existing.response_content_type) reply.header('content-type', existing.response_content_type);
        reply.status(existing.status_code ?? 200);
        return reply.send(existing.response_body ?? '');
      }
      if (Date.now() > deadline) {
        throw new AppError('version_conflict', 'a request with this Idempotency-Key is still in progress', {
          idempotency_key: key,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const claim = request.idempotency;
    if (!claim) return payload;
    request.idempotency = undefined;
    const { tenantId, environmentId } = request.ctx;
    const where = db
      .updateTable('idempotency_keys')
      .where('tenant_id', '=', tenantId)
      .where('environment_id', '=', environmentId)
      .where('key', '=', claim.key);
    if (reply.statusCode >= 500 || (payload !== null && payload !== undefined && typeof payload !== 'string')) {
      await db
        .deleteFrom('idempotency_keys')
        .where('tenant_id', '=', tenantId)
        .where('environment_id', '=', environmentId)
        .where('key', '=', claim.key)
        .execute();
      return payload;
    }
    const contentType = reply.getHeader('content-type');
    await where
      .set({
        state: 'completed',
        status_code: reply.statusCode,
        response_body: (payload as string | null) ?? '',
        response_content_type: typeof contentType === 'string' ? contentType : null,
      })
      .execute();
    return payload;
  });
}

/** Deletes stored responses past their retention; bounded per call. */
export async function purgeExpiredIdempotencyKeys(db: Db, now: Date, batch = 1000): Promise<number> {
  const result = await db
    .deleteFrom('idempotency_keys')
    .where(({ eb, selectFrom }) =>
      eb('key', 'in', selectFrom('idempotency_keys').select('key').where('expires_at', '<', now).limit(batch)),
    )
    .where('expires_at', '<', now)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
