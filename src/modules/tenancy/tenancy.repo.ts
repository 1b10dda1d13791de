import type { Selectable } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';
import type { ApiKeysTable, EnvironmentsTable, TenantsTable } from '../../platform/db/schema.ts';
import type { Scope } from '../../platform/http/context.ts';

export type TenantRow = Selectable<TenantsTable>;
export type EnvironmentRow = Selectable<EnvironmentsTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;

export function findDefaultEnvironment(db: Executor) {
  return db
    .selectFrom('environments')
    .innerJoin('tenants', 'tenants.id', 'environments.tenant_id')
    .selectAll('environments')
    .where('tenants.is_default', '=', true)
    .where('environments.is_default', '=', true)
    .executeTakeFirst();
}

export function countTenants(db: Executor) {
  return db
    .selectFrom('tenants')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .executeTakeFirstOrThrow();
}

export function insertTenant(db: Executor, row: { id: string; name: string; is_default: boolean; now: Date }) {
  return db
    .insertInto('tenants')
    .values({ id: row.id, name: row.name, is_default: row.is_default, created_at: row.now, updated_at: row.now })
    .execute();
}

export function insertEnvironment(
  db: Executor,
  row: { id: string; tenant_id: string; name: string; type: string; is_default: boolean; now: Date },
) {
  return db
    .insertInto('environments')
    .values({
      id: row.id,
      tenant_id: row.tenant_id,
      name: row.name,
      type: row.type,
      is_default: row.is_default,
      created_at: row.now,
      updated_at: row.now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export function findEnvironmentById(db: Executor, tenantId: string, id: string) {
  return db
    .selectFrom('environments')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('status', '=', 'published')
    .executeTakeFirst();
}

export function listEnvironmentsByTenant(db: Executor, tenantId: string, limit: number, offset: number) {
  return db
    .selectFrom('environments')
    .selectAll()
    .select((eb) => eb.fn.countAll<string>().over().as('total'))
    .where('tenant_id', '=', tenantId)
    .where('status', '=', 'published')
    .orderBy('created_at', 'asc')
    .orderBy('id', 'asc')
    .limit(limit)
    .offset(offset)
    .execute();
}

export function updateEnvironment(
  db: Executor,
  tenantId: string,
  id: string,
  changes: { name?: string; type?: string; now: Date },
) {
  return db
    .updateTable('environments')
    .set({
      ...(changes.name !== undefined ? { name: changes.name } : {}),
      ...(changes.type !== undefined ? { type: changes.type } : {}),
      updated_at: changes.now,
    })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('status', '=', 'published')
    .returningAll()
    .executeTakeFirst();
}

export function insertApiKey(
  db: Executor,
  row: Omit<ApiKeyRow, 'status' | 'created_at' | 'updated_at' | 'last_used_at'> & { now: Date },
) {
  const { now, ...values } = row;
  return db
    .insertInto('api_keys')
    .values({ ...values, created_at: now, updated_at: now })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export function findApiKeyByHash(db: Executor, keyHash: string) {
  return db
    .selectFrom('api_keys')
    .innerJoin('environments', 'environments.id', 'api_keys.environment_id')
    .innerJoin('tenants', 'tenants.id', 'api_keys.tenant_id')
    .selectAll('api_keys')
    .where('api_keys.key_hash', '=', keyHash)
    .where('api_keys.status', '=', 'published')
    .where('environments.status', '=', 'published')
    .where('tenants.status', '=', 'published')
    .executeTakeFirst();
}

/** Any key with this hash, whatever its status (keys are unique by hash even after deletion). */
export function findApiKeyByHashAnyStatus(db: Executor, keyHash: string) {
  return db.selectFrom('api_keys').selectAll().where('key_hash', '=', keyHash).executeTakeFirst();
}

export function listApiKeysByEnvironment(db: Executor, scope: Scope, status: string, limit: number, offset: number) {
  return db
    .selectFrom('api_keys')
    .selectAll()
    .select((eb) => eb.fn.countAll<string>().over().as('total'))
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('status', '=', status)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .offset(offset)
    .execute();
}

export function archiveApiKey(db: Executor, scope: Scope, id: string, now: Date) {
  return db
    .updateTable('api_keys')
    .set({ status: 'deleted', updated_at: now })
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .where('status', '=', 'published')
    .returning(['id', 'key_hash'])
    .executeTakeFirst();
}

export function touchApiKey(db: Executor, id: string, now: Date) {
  return db.updateTable('api_keys').set({ last_used_at: now }).where('id', '=', id).execute();
}
