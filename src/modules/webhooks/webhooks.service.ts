import type { Clock } from '../../platform/clock.ts';
import { type Db, withTransaction } from '../../platform/db/database.ts';
import { pageOf } from '../../platform/db/query.ts';
import { invalidOperation, notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { newId } from '../../platform/ids.ts';
import { createDeliveryWorker, type DeliveryOptions } from './delivery.ts';
import { createOutbox } from './outbox.ts';
import { generateSecret, isValidSecret } from './signing.ts';
import { isWebhookEventName, WEBHOOK_EVENT_NAMES } from './webhook-events.ts';
import * as repo from './webhooks.repo.ts';

export interface WebhooksOptions {
  delivery?: Partial<DeliveryOptions>;
  /** After a rotation the previous secret keeps signing (as a second signature) for this long. */
  rotationGraceMs?: number;
}

const DEFAULT_ROTATION_GRACE_MS = 24 * 60 * 60 * 1000;
const URL_MAX_LENGTH = 2048;
const MESSAGE_STATUSES = ['pending', 'succeeded', 'failed'] as const;

export interface EndpointView {
  id: string;
  url: string;
  description: string;
  event_types: string[];
  enabled: boolean;
  disabled_reason: string;
  disabled_at: string | null;
  failing_since: string | null;
  source: 'api' | 'config';
  tenant_id: string;
  environment_id: string;
  created_at: string;
  updated_at: string;
}

export interface EndpointWithSecret extends EndpointView {
  secret: string;
}

export interface MessageView {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  payload: unknown;
  status: 'pending' | 'succeeded' | 'failed';
  attempt_count: number;
  next_attempt_at: string | null;
  last_attempt_at: string | null;
  delivered_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface AttemptView {
  id: string;
  attempted_at: string;
  status_code: number | null;
  latency_ms: number;
  response_excerpt: string;
  error: string;
  succeeded: boolean;
  next_attempt_at: string | null;
  trigger: 'scheduled' | 'resend';
}

export interface EndpointInput {
  url?: string | undefined;
  description?: string | undefined;
  event_types?: string[] | undefined;
  enabled?: boolean | undefined;
}

const iso = (value: Date | null) => (value ? value.toISOString() : null);

function endpointView(row: repo.EndpointRow): EndpointView {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    event_types: row.event_types,
    enabled: row.enabled,
    disabled_reason: row.disabled_reason,
    disabled_at: iso(row.disabled_at),
    failing_since: iso(row.failing_since),
    source: row.source as EndpointView['source'],
    tenant_id: row.tenant_id,
    environment_id: row.environment_id,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function messageView(row: repo.MessageRow): MessageView {
  return {
    id: row.id,
    endpoint_id: row.endpoint_id,
    event_id: row.event_id,
    event_type: row.event_type,
    payload: JSON.parse(row.payload),
    status: row.status,
    attempt_count: row.attempt_count,
    next_attempt_at: row.status === 'pending' ? iso(row.next_attempt_at) : null,
    last_attempt_at: iso(row.last_attempt_at),
    delivered_at: iso(row.delivered_at),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function attemptView(row: repo.AttemptRow): AttemptView {
  return {
    id: row.id,
    attempted_at: row.attempted_at.toISOString(),
    status_code: row.status_code,
    latency_ms: row.latency_ms,
    response_excerpt: row.response_excerpt,
    error: row.error,
    succeeded: row.succeeded,
    next_attempt_at: iso(row.next_attempt_at),
    trigger: row.trigger,
  };
}

/** http(s) with a host, at most 2048 characters. */
function checkUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw validation('url must be an absolute http or https URL', { url });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw validation('url must use http or https', { url });
  }
  if (!parsed.hostname) throw validation('url must have a host', { url });
  if (url.length > URL_MAX_LENGTH) throw validation(`url must be at most ${URL_MAX_LENGTH} characters`);
  return url;
}

function checkEventTypes(eventTypes: string[]): string[] {
  const unknown = eventTypes.filter((name) => !isWebhookEventName(name));
  if (unknown.length > 0) {
    throw validation(`unknown event type '${unknown[0]}'`, { unknown, allowed: [...WEBHOOK_EVENT_NAMES] });
  }
  return [...new Set(eventTypes)];
}

/**
 * Webhooks: endpoint management, the message log and replay, plus the outbox other modules emit through and the
 * delivery worker main.ts runs.
 */
export function createWebhooksService(deps: {
  db: Db;
  clock: Clock;
  options?: WebhooksOptions;
  /** This process is the database's only writer (embedded engine): subscriptions may be cached (outbox.ts). */
  singleWriter?: boolean;
}) {
  const { db, clock } = deps;
  const rotationGraceMs = deps.options?.rotationGraceMs ?? DEFAULT_ROTATION_GRACE_MS;
  const outbox = createOutbox({ clock, singleWriter: deps.singleWriter ?? false });
  const delivery = createDeliveryWorker({
    db,
    clock,
    ...(deps.options?.delivery ? { options: deps.options.delivery } : {}),
  });

  async function requireEndpoint(scope: Scope, id: string) {
    const row = await repo.findEndpointById(db, scope, id);
    if (!row) throw notFound('webhook endpoint', { id });
    return row;
  }

  return {
    outbox,
    delivery,

    /** 400 validation_error for a non-http(s) URL or an unknown event type. The secret is shown only here. */
    async createEndpoint(scope: Scope, input: EndpointInput & { url: string }): Promise<EndpointWithSecret> {
      const url = checkUrl(input.url);
      const eventTypes = checkEventTypes(input.event_types ?? []);
      const now = clock.now();
      const row = await repo.insertEndpoint(db, {
        id: newId('webhookEndpoint'),
        tenant_id: scope.tenantId,
        environment_id: scope.environmentId,
        url,
        description: input.description ?? '',
        event_types: JSON.stringify(eventTypes),
        enabled: input.enabled ?? true,
        secret: generateSecret(),
        source: 'api',
        created_at: now,
        updated_at: now,
      });
      return { ...endpointView(row), secret: row.secret };
    },

    async listEndpoints(scope: Scope, page: { limit?: number | undefined; offset?: number | undefined }) {
      const { limit, offset } = pageOf(page);
      const { rows, total } = await repo.listEndpoints(db, scope, { limit, offset });
      return { items: rows.map(endpointView), pagination: { total, limit, offset } };
    },

    async getEndpoint(scope: Scope, id: string): Promise<EndpointView> {
      return endpointView(await requireEndpoint(scope, id));
    },

    /**
     * Partial update. Enabling an endpoint (again) clears its disabled state and failing streak; its pending
     * messages are then delivered.
     */
    async updateEndpoint(scope: Scope, id: string, input: EndpointInput): Promise<EndpointView> {
      const url = input.url !== undefined ? checkUrl(input.url) : undefined;
      const eventTypes = input.event_types !== undefined ? checkEventTypes(input.event_types) : undefined;
      return withTransaction(db, async (tx) => {
        const current = await repo.findEndpointById(tx, scope, id, { forUpdate: true });
        if (!current) throw notFound('webhook endpoint', { id });
        const now = clock.now();
        const reenabled = input.enabled === true && !current.enabled;
        const row = await repo.updateEndpointById(tx, scope, id, {
          ...(url !== undefined ? { url } : {}),
          ...(input.description !== undefined ? { description: input.description } : {}),
          ...(eventTypes !== undefined ? { event_types: JSON.stringify(eventTypes) } : {}),
          ...(input.enabled !== undefined ? { enabled: input.enabled } : {}),
          ...(reenabled ? { disabled_reason: '', disabled_at: null, failing_since: null } : {}),
          ...(input.enabled === false && current.enabled
            ? { disabled_reason: 'disabled by request', disabled_at: now }
            : {}),
          updated_at: now,
        });
        return endpointView(row);
      });
    },

    /** Deletes the endpoint with its messages and attempts; nothing more is sent to it. */
    async deleteEndpoint(scope: Scope, id: string): Promise<void> {
      if (!(await repo.deleteEndpointById(db, scope, id))) throw notFound('webhook endpoint', { id });
    },

    /** A new secret, shown once; the previous one keeps signing alongside it for the grace period. */
    async rotateSecret(scope: Scope, id: string): Promise<EndpointWithSecret> {
      return withTransaction(db, async (tx) => {
        const current = await repo.findEndpointById(tx, scope, id, { forUpdate: true });
        if (!current) throw notFound('webhook endpoint', { id });
        const now = clock.now();
        const row = await repo.updateEndpointById(tx, scope, id, {
          secret: generateSecret(),
          previous_secret: current.secret,
          previous_secret_expires_at: new Date(now.getTime() + rotationGraceMs),
          updated_at: now,
        });
        return { ...endpointView(row), secret: row.secret };
      });
    },

    /**
     * The endpoint WEBHOOK_URL/WEBHOOK_SECRET configure for an environment: created on first start, then kept in
     * line with the configuration. Without a configured secret one is generated and returned (once) to be printed.
     */
    async ensureConfiguredEndpoint(
      scope: Scope,
      config: { url: string; secret?: string | undefined },
    ): Promise<{ endpoint: EndpointView; generatedSecret?: string }> {
      const url = checkUrl(config.url);
      if (config.secret !== undefined && !isValidSecret(config.secret)) {
        throw new Error('WEBHOOK_SECRET must be whsec_ followed by the base64 of at least 16 bytes');
      }
      return withTransaction(db, async (tx) => {
        const now = clock.now();
        const current = await repo.findConfigEndpoint(tx, scope);
        if (current) {
          const secretChanged = config.secret !== undefined && config.secret !== current.secret;
          if (current.url === url && !secretChanged) return { endpoint: endpointView(current) };
          const row = await repo.updateEndpointById(tx, scope, current.id, {
            url,
            ...(secretChanged
              ? { secret: config.secret, previous_secret: null, previous_secret_expires_at: null }
              : {}),
            updated_at: now,
          });
          return { endpoint: endpointView(row) };
        }
        const secret = config.secret ?? generateSecret();
        const row = await repo.insertEndpoint(tx, {
          id: newId('webhookEndpoint'),
          tenant_id: scope.tenantId,
          environment_id: scope.environmentId,
          url,
          description: 'configured by WEBHOOK_URL',
          event_types: '[]',
          enabled: true,
          secret,
          source: 'config',
          created_at: now,
          updated_at: now,
        });
        return { endpoint: endpointView(row), ...(config.secret === undefined ? { generatedSecret: secret } : {}) };
      });
    },

    /** Newest first; 404 for an endpoint of another environment. */
    async listMessages(
      scope: Scope,
      endpointId: string,
      filter: {
        limit?: number | undefined;
        offset?: number | undefined;
        event_type?: string | undefined;
        status?: string | undefined;
      },
    ) {
      await requireEndpoint(scope, endpointId);
      if (filter.status !== undefined && !(MESSAGE_STATUSES as readonly string[]).includes(filter.status)) {
        throw validation(`status must be one of ${MESSAGE_STATUSES.join(', ')}`);
      }
      const { limit, offset } = pageOf(filter);
      const { rows, total } = await repo.listMessagesByEndpointId(db, scope, endpointId, {
        limit,
        offset,
        event_type: filter.event_type,
        status: filter.status,
      });
      return { items: rows.map(messageView), pagination: { total, limit, offset } };
    },

    async getMessage(scope: Scope, id: string): Promise<MessageView & { attempts: AttemptView[] }> {
      const row = await repo.findMessageById(db, scope, id);
      if (!row) throw notFound('webhook message', { id });
      const attempts = await repo.listAttemptsByMessageId(db, scope, id);
      return { ...messageView(row), attempts: attempts.map(attemptView) };
    },

    /**
     * Queues the message again (succeeded, failed or pending) with a fresh retry horizon; same `webhook-id`, so
     * receivers can recognise it. 400 invalid_operation when its endpoint is disabled.
     */
    async resendMessage(scope: Scope, id: string): Promise<MessageView> {
      return withTransaction(db, async (tx) => {
        const message = await repo.findMessageById(tx, scope, id, { forUpdate: true });
        if (!message) throw notFound('webhook message', { id });
        const endpoint = await repo.findEndpointById(tx, scope, message.endpoint_id);
        if (!endpoint?.enabled) {
          throw invalidOperation('the endpoint of this message is disabled; enable it first', {
            endpoint_id: message.endpoint_id,
          });
        }
        const now = clock.now();
        const row = await repo.updateMessageById(tx, scope, id, {
          status: 'pending',
          next_attempt_at: now,
          retry_started_at: now,
          lease_id: null,
          next_trigger: 'resend',
          updated_at: now,
        });
        return messageView(row);
      });
    },
  };
}

export type WebhooksService = ReturnType<typeof createWebhooksService>;
