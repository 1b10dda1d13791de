import { createHash } from 'node:crypto';
import type { Clock } from '../../platform/clock.ts';
import { type Db, isUniqueViolation, withTransaction } from '../../platform/db/database.ts';
import { notFound, validation } from '../../platform/errors.ts';
import type { RequestContext, Scope } from '../../platform/http/context.ts';
import { newId, newUlid } from '../../platform/ids.ts';
import * as repo from './tenancy.repo.ts';

export type EnvironmentType = 'development' | 'production';

export interface EnvironmentView {
  id: string;
  tenant_id: string;
  name: string;
  type: string;
  status: string;
  created_at: string;
  updated_at: string;
}

export interface SecretView {
  id: string;
  name: string;
  type: string;
  provider: 'flexprice';
  display_id: string;
  environment_id: string;
  roles: string[];
  user_type: 'user';
  status: string;
  expires_at?: string;
  last_used_at?: string;
  created_at: string;
  updated_at: string;
}

export interface CreatedApiKey {
  api_key: string;
  secret: SecretView;
}

export function hashApiKey(rawKey: string): string {
  return createHash('sha256').update(rawKey).digest('hex');
}

function displayIdOf(rawKey: string): string {
  return `${rawKey.slice(0, 5)}***${rawKey.slice(-2)}`;
}

function environmentView(row: repo.EnvironmentRow): EnvironmentView {
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    name: row.name,
    type: row.type,
    status: row.status,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function secretView(row: repo.ApiKeyRow): SecretView {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    provider: 'flexprice',
    display_id: row.display_id,
    environment_id: row.environment_id,
    roles: [],
    user_type: 'user',
    status: row.status,
    ...(row.expires_at ? { expires_at: row.expires_at.toISOString() } : {}),
    ...(row.last_used_at ? { last_used_at: row.last_used_at.toISOString() } : {}),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

interface CachedKey {
  context: RequestContext;
  expiresAt: Date | null;
  cachedUntil: number;
}

const KEY_CACHE_TTL_MS = 5_000;
const KEY_CACHE_MAX = 10_000;
const LAST_USED_WRITE_INTERVAL_MS = 60_000;

/**
 * Tenants, environments and API keys. Keys are looked up by SHA-256; a small in-process cache (5 s) keeps the
 * per-request cost off the database. Deleting a key evicts it here at once; other processes on the same
 * PostgreSQL stop accepting it within the cache lifetime.
 */
export function createTenancyService(deps: { db: Db; clock: Clock }) {
  const { db, clock } = deps;
  const keyCache = new Map<string, CachedKey>();
  /** The read of a key by its hash that is running, if any (see lookupKey). */
  const keyLookups = new Map<string, { promise: Promise<CachedKey | null> }>();

  /**
   * Reads a key by its hash into the cache (null, and out of the cache, when it is unknown or deleted). One read per
   * key at a time: requests that miss together (every request of a busy key when its entry expires) wait for the
   * same read instead of each sending its own. Deleting a key drops its running read, whose answer then goes to
   * the requests already waiting for it but not into the cache.
   */
  function lookupKey(keyHash: string): Promise<CachedKey | null> {
    const running = keyLookups.get(keyHash);
    if (running) return running.promise;
    const lookup = {} as { promise: Promise<CachedKey | null> };
    lookup.promise = (async () => {
      try {
        const row = await repo.findApiKeyByHash(db, keyHash);
        const current = keyLookups.get(keyHash) === lookup;
        if (!row) {
          if (current) keyCache.delete(keyHash);
          return null;
        }
        const cached = {
          context: { tenantId: row.tenant_id, environmentId: row.environment_id, apiKeyId: row.id },
          expiresAt: row.expires_at,
          cachedUntil: Date.now() + KEY_CACHE_TTL_MS,
        };
        if (current) {
          if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
          keyCache.set(keyHash, cached);
        }
        return cached;
      } finally {
        if (keyLookups.get(keyHash) === lookup) keyLookups.delete(keyHash);
      }
    })();
    keyLookups.set(keyHash, lookup);
    return lookup.promise;
  }
  const lastUsedWritten = new Map<string, number>();

  async function insertKey(
    executor: Parameters<typeof repo.insertApiKey>[0],
    scope: Scope,
    input: { name: string; type?: string; expiresAt?: Date | null; rawKey?: string },
  ): Promise<CreatedApiKey> {
    const type = input.type ?? 'private_key';
    const rawKey = input.rawKey ?? `${type === 'publishable_key' ? 'pk' : 'sk'}_${newUlid()}`;
    const row = await repo.insertApiKey(executor, {
      id: newId('secret'),
      tenant_id: scope.tenantId,
      environment_id: scope.environmentId,
      name: input.name,
      type,
      key_hash: hashApiKey(rawKey),
      display_id: displayIdOf(rawKey),
      expires_at: input.expiresAt ?? null,
      now: clock.now(),
    });
    return { api_key: rawKey, secret: secretView(row) };
  }

  async function createTenant(
    name: string,
    options: { isDefault?: boolean; environmentName?: string; environmentType?: EnvironmentType } = {},
  ) {
    return withTransaction(db, async (tx) => {
      const now = clock.now();
      const tenantId = newId('tenant');
      await repo.insertTenant(tx, { id: tenantId, name, is_default: options.isDefault ?? false, now });
      const environment = await repo.insertEnvironment(tx, {
        id: newId('environment'),
        tenant_id: tenantId,
        name: options.environmentName ?? 'Development',
        type: options.environmentType ?? 'development',
        is_default: true,
        now,
      });
      const key = await insertKey(tx, { tenantId, environmentId: environment.id }, { name: 'default' });
      return { tenantId, environmentId: environment.id, apiKey: key.api_key, apiKeyId: key.secret.id };
    });
  }

  return {
    /**
     * First start: creates the default tenant, environment and key (returned so main can print it once).
     * With `apiKey`, that exact string is made a valid key of the default environment.
     */
    async bootstrap(options: {
      apiKey?: string | undefined;
    }): Promise<{ createdKey?: string; tenantId: string; environmentId: string }> {
      let createdKey: string | undefined;
      let environment = await repo.findDefaultEnvironment(db);
      if (!environment) {
        const { count } = await repo.countTenants(db);
        if (Number(count) === 0) {
          try {
            const created = await createTenant('Default', { isDefault: true });
            createdKey = options.apiKey ? undefined : created.apiKey;
          } catch (error) {
            // Another process starting on the same database created the default tenant first (one default tenant
            // is a unique index); use theirs instead of failing the start.
            if (!isUniqueViolation(error)) throw error;
          }
        }
        environment = await repo.findDefaultEnvironment(db);
        if (!environment) throw new Error('the database has tenants but no default environment');
      }
      if (options.apiKey) {
        const scope = { tenantId: environment.tenant_id, environmentId: environment.id };
        const ensureKey = async (): Promise<boolean> => {
          const existing = await repo.findApiKeyByHash(db, hashApiKey(options.apiKey!));
          if (existing && existing.environment_id !== environment.id) {
            throw new Error('API_KEY is already a key of another environment');
          }
          return Boolean(existing);
        };
        if (!(await ensureKey())) {
          try {
            await insertKey(db, scope, { name: 'API_KEY', rawKey: options.apiKey });
          } catch (error) {
            if (!isUniqueViolation(error)) throw error;
            // Either another process starting at the same time inserted it first (then it is live now), or it was
            // deleted through the API: a revoked key is not revived by a restart.
            if (!(await ensureKey())) {
              const revoked = await repo.findApiKeyByHashAnyStatus(db, hashApiKey(options.apiKey));
              if (revoked && revoked.status !== 'published') {
                throw new Error('API_KEY was deleted through the API and is not revived; set another API_KEY', {
                  cause: error,
                });
              }
              throw error;
            }
          }
        }
      }
      return { ...(createdKey ? { createdKey } : {}), tenantId: environment.tenant_id, environmentId: environment.id };
    },

    /** A new tenant with one environment and one key (used by bootstrap, tests and benchmarks). */
    createTenant,

    /** Resolves a raw API key to its tenant and environment, or null (missing, unknown, deleted, expired). */
    async authenticate(rawKey: string): Promise<RequestContext | null> {
      const keyHash = hashApiKey(rawKey);
      const nowMs = clock.now().getTime();
      let cached = keyCache.get(keyHash);
      if (!cached || cached.cachedUntil < Date.now()) {
        const loaded = await lookupKey(keyHash);
        if (!loaded) return null;
        cached = loaded;
      }
      if (cached.expiresAt && cached.expiresAt.getTime() <= nowMs) return null;
      const lastWritten = lastUsedWritten.get(cached.context.apiKeyId) ?? 0;
      if (Date.now() - lastWritten > LAST_USED_WRITE_INTERVAL_MS) {
        lastUsedWritten.set(cached.context.apiKeyId, Date.now());
        await repo.touchApiKey(db, cached.context.apiKeyId, clock.now());
      }
      return cached.context;
    },

    async createApiKey(
      scope: Scope,
      input: { name: string; type: string; expires_at?: string | undefined },
    ): Promise<CreatedApiKey> {
      if (input.type !== 'private_key' && input.type !== 'publishable_key') {
        throw validation(`type must be private_key or publishable_key, got '${input.type}'`);
      }
      let expiresAt: Date | null = null;
      if (input.expires_at) {
        expiresAt = new Date(input.expires_at);
        if (expiresAt.getTime() <= clock.now().getTime()) throw validation('expires_at must be in the future');
      }
      await this.getEnvironment(scope.tenantId, scope.environmentId);
      return insertKey(db, scope, { name: input.name, type: input.type, expiresAt });
    },

    async listApiKeys(scope: Scope, query: { limit?: number; offset?: number; status?: string }) {
      const limit = query.limit ?? 50;
      const offset = query.offset ?? 0;
      const rows = await repo.listApiKeysByEnvironment(db, scope, query.status ?? 'published', limit, offset);
      return {
        items: rows.map(secretView),
        pagination: { total: rows.length > 0 ? Number(rows[0]!.total) : 0, limit, offset },
      };
    },

    async deleteApiKey(scope: Scope, id: string): Promise<void> {
      const row = await repo.archiveApiKey(db, scope, id, clock.now());
      if (!row) throw notFound('api key');
      keyCache.delete(row.key_hash);
      keyLookups.delete(row.key_hash);
    },

    async createEnvironment(tenantId: string, input: { name: string; type: EnvironmentType }) {
      const row = await repo.insertEnvironment(db, {
        id: newId('environment'),
        tenant_id: tenantId,
        name: input.name,
        type: input.type,
        is_default: false,
        now: clock.now(),
      });
      return environmentView(row);
    },

    async getEnvironment(tenantId: string, id: string): Promise<EnvironmentView> {
      const row = await repo.findEnvironmentById(db, tenantId, id);
      if (!row) throw notFound('environment', { id });
      return environmentView(row);
    },

    async listEnvironments(tenantId: string, query: { limit?: number; offset?: number }) {
      const limit = query.limit ?? 50;
      const offset = query.offset ?? 0;
      const rows = await repo.listEnvironmentsByTenant(db, tenantId, limit, offset);
      return {
        items: rows.map(environmentView),
        pagination: { total: rows.length > 0 ? Number(rows[0]!.total) : 0, limit, offset },
      };
    },

    async updateEnvironment(tenantId: string, id: string, input: { name?: string; type?: EnvironmentType }) {
      const row = await repo.updateEnvironment(db, tenantId, id, { ...input, now: clock.now() });
      if (!row) throw notFound('environment', { id });
      return environmentView(row);
    },
  };
}

export type TenancyService = ReturnType<typeof createTenancyService>;
