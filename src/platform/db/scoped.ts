import type { Kysely, Selectable } from 'kysely';
import type { Scope } from '../http/context.ts';
import type { Executor } from './database.ts';
import type { Database } from './schema.ts';

/**
 * Tables of tenant- and environment-scoped, soft-deleted rows: every one has `tenant_id`, `environment_id`, `id`
 * and `status` (`published` while live).
 */
export type ScopedTable = {
  [K in keyof Database]: Database[K] extends {
    tenant_id: unknown;
    environment_id: unknown;
    id: unknown;
    status: unknown;
  }
    ? K
    : never;
}[keyof Database];

// Kysely cannot type a query over a table name that is itself a type parameter; the function is typed at its
// boundary and runs on this untyped view inside.
type Untyped = Kysely<Record<string, Record<string, unknown>>>;

/** A live (`published`) row of the scope by id; archived rows and other tenants' or environments' are invisible. */
export async function findLiveById<T extends ScopedTable>(
  db: Executor,
  table: T,
  scope: Scope,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<Selectable<Database[T]> | undefined> {
  let query = (db as unknown as Untyped)
    .selectFrom(table as string)
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .where('status', '=', 'published');
  if (options.forUpdate) query = query.forUpdate();
  return (await query.executeTakeFirst()) as Selectable<Database[T]> | undefined;
}

/**
 * The live rows of the scope whose `column` is `value` (or one of `value`), oldest first (created_at, then id): the
 * lists of a parent's children (a subscription's line items, schedules, addon associations).
 */
export async function listLiveBy<T extends ScopedTable>(
  db: Executor,
  table: T,
  scope: Scope,
  column: keyof Database[T] & string,
  value: string | readonly string[],
): Promise<Array<Selectable<Database[T]>>> {
  const values = typeof value === 'string' ? [value] : [...new Set(value)];
  if (values.length === 0) return [];
  return (await (db as unknown as Untyped)
    .selectFrom(table as string)
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where(column as string, 'in', values)
    .where('status', '=', 'published')
    .orderBy('created_at', 'asc')
    .orderBy('id', 'asc')
    .execute()) as Array<Selectable<Database[T]>>;
}
