import { type Insertable, type Kysely, type RawBuilder, type Selectable, sql, type Updateable } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';
import {
  applyFilters,
  applySort,
  type FieldMap,
  type FilterCondition,
  type SortCondition,
} from '../../platform/db/query.ts';
import type { Database } from '../../platform/db/schema.ts';
import { findLiveById } from '../../platform/db/scoped.ts';
import type { Scope } from '../../platform/http/context.ts';

/**
 * Storage of the catalog tables. They share one shape (id, tenant/environment scope, soft-delete status, audit
 * columns), so one set of scoped functions serves them all; every query filters on tenant and environment.
 */
export type CatalogTable =
  'meters' | 'features' | 'plans' | 'addons' | 'price_units' | 'prices' | 'entitlements' | 'credit_grants';

export type Row<T extends CatalogTable> = Selectable<Database[T]>;

// Kysely cannot type a query over a table name that is itself a type parameter; the functions below are typed at
// their boundary and run on this untyped view inside.
type Untyped = Kysely<Record<string, Record<string, unknown>>>;
const untyped = (db: Executor) => db as unknown as Untyped;

export async function insertRow<T extends CatalogTable>(
  db: Executor,
  table: T,
  row: Insertable<Database[T]>,
): Promise<Row<T>> {
  const inserted = await untyped(db)
    .insertInto(table as string)
    .values(row as Record<string, unknown>)
    .returningAll()
    .executeTakeFirstOrThrow();
  return inserted as Row<T>;
}

export async function insertRows<T extends CatalogTable>(
  db: Executor,
  table: T,
  rows: Array<Insertable<Database[T]>>,
): Promise<Array<Row<T>>> {
  if (rows.length === 0) return [];
  const inserted = await untyped(db)
    .insertInto(table as string)
    .values(rows as Array<Record<string, unknown>>)
    .returningAll()
    .execute();
  return inserted as Array<Row<T>>;
}

/** A published row by id (archived rows are invisible to reads, as in the reference). */
export function findRowById<T extends CatalogTable>(
  db: Executor,
  table: T,
  scope: Scope,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<Row<T> | undefined> {
  return findLiveById(db, table, scope, id, options);
}

export async function findRowByColumn<T extends CatalogTable>(
  db: Executor,
  table: T,
  scope: Scope,
  column: string,
  value: string,
): Promise<Row<T> | undefined> {
  const row = await untyped(db)
    .selectFrom(table as string)
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where(column, '=', value)
    .where('status', '=', 'published')
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  return row as Row<T> | undefined;
}

/** Published rows whose id is in the list (for expansion), in no particular order. */
export async function findRowsByIds<T extends CatalogTable>(
  db: Executor,
  table: T,
  scope: Scope,
  ids: string[],
): Promise<Array<Row<T>>> {
  if (ids.length === 0) return [];
  const rows = await untyped(db)
    .selectFrom(table as string)
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', 'in', [...new Set(ids)])
    .where('status', '=', 'published')
    .execute();
  return rows as Array<Row<T>>;
}

/** Published rows where `column` is one of `values`, oldest first (children of a plan or addon). */
export async function findRowsByColumn<T extends CatalogTable>(
  db: Executor,
  table: T,
  scope: Scope,
  column: string,
  values: string[],
  extra: Array<RawBuilder<boolean>> = [],
): Promise<Array<Row<T>>> {
  if (values.length === 0) return [];
  let query = untyped(db)
    .selectFrom(table as string)
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where(column, 'in', [...new Set(values)])
    .where('status', '=', 'published');
  for (const condition of extra) query = query.where(condition);
  return (await query.orderBy('created_at', 'asc').orderBy('id', 'asc').execute()) as Array<Row<T>>;
}

export async function updateRowById<T extends CatalogTable>(
  db: Executor,
  table: T,
  scope: Scope,
  id: string,
  changes: Updateable<Database[T]>,
): Promise<Row<T>> {
  const row = await untyped(db)
    .updateTable(table as string)
    .set(changes as Record<string, unknown>)
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return row as Row<T>;
}

export interface ListRequest {
  limit: number;
  offset: number;
  status?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: SortCondition[] | string | undefined;
  filters?: FilterCondition[] | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
  /** entity-specific conditions, already bound (see `inList`, `equals`) */
  conditions?: Array<RawBuilder<boolean>> | undefined;
}

/** One page of rows plus the total, with the reference's list semantics (default status published). */
export async function listRows<T extends CatalogTable>(
  db: Executor,
  table: T,
  scope: Scope,
  request: ListRequest,
  fields: FieldMap,
  entity: string,
): Promise<{ rows: Array<Row<T>>; total: number }> {
  let query = untyped(db)
    .selectFrom(table as string)
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('status', '=', request.status ?? 'published');
  if (request.start_time) query = query.where('created_at', '>=', new Date(request.start_time));
  if (request.end_time) query = query.where('created_at', '<=', new Date(request.end_time));
  for (const condition of request.conditions ?? []) query = query.where(condition);
  query = applyFilters(query, request.filters, fields, entity);
  const [countRow, rows] = await Promise.all([
    query.select((eb) => eb.fn.countAll<string>().as('total')).executeTakeFirstOrThrow(),
    applySort(query.selectAll(), request.sort, request.order, fields, entity)
      .limit(request.limit)
      .offset(request.offset)
      .execute(),
  ]);
  return { rows: rows as Array<Row<T>>, total: Number(countRow.total) };
}

/** `column in (values)`; an empty list matches nothing (as an explicit empty id filter should). */
export function inList(column: string, values: string[]): RawBuilder<boolean> {
  if (values.length === 0) return sql<boolean>`false`;
  return sql<boolean>`${sql.ref(column)} in (${sql.join(values)})`;
}

export function equals(column: string, value: string | boolean): RawBuilder<boolean> {
  return sql<boolean>`${sql.ref(column)} = ${value}`;
}

/** The audit and scope fields every catalog table has, for FieldMaps of the search DSL. */
export const BASE_FIELDS: FieldMap = {
  id: { column: 'id', type: 'string' },
  status: { column: 'status', type: 'string' },
  created_at: { column: 'created_at', type: 'date' },
  updated_at: { column: 'updated_at', type: 'date' },
  created_by: { column: 'created_by', type: 'string' },
  updated_by: { column: 'updated_by', type: 'string' },
};
