import type { Insertable, Selectable, Updateable } from 'kysely';
import { sql } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';
import {
  applyFilters,
  applySort,
  type FieldMap,
  type FilterCondition,
  type SortCondition,
} from '../../platform/db/query.ts';
import type { CustomersTable } from '../../platform/db/schema.ts';
import type { Scope } from '../../platform/http/context.ts';

export type CustomerRow = Selectable<CustomersTable>;

export const CUSTOMER_FIELDS: FieldMap = {
  id: { column: 'id', type: 'string' },
  external_id: { column: 'external_id', type: 'string' },
  name: { column: 'name', type: 'string' },
  email: { column: 'email', type: 'string' },
  contact: { column: 'contact', type: 'string' },
  address_line1: { column: 'address_line1', type: 'string' },
  address_line2: { column: 'address_line2', type: 'string' },
  address_city: { column: 'address_city', type: 'string' },
  address_state: { column: 'address_state', type: 'string' },
  address_postal_code: { column: 'address_postal_code', type: 'string' },
  address_country: { column: 'address_country', type: 'string' },
  timezone: { column: 'timezone', type: 'string' },
  status: { column: 'status', type: 'string' },
  created_at: { column: 'created_at', type: 'date' },
  updated_at: { column: 'updated_at', type: 'date' },
  created_by: { column: 'created_by', type: 'string' },
  updated_by: { column: 'updated_by', type: 'string' },
};

export const CUSTOMER_UNIQUE_EXTERNAL_ID = 'customers_external_id_live';

export function insertCustomer(db: Executor, row: Insertable<CustomersTable>) {
  return db.insertInto('customers').values(row).returningAll().executeTakeFirstOrThrow();
}

function findLiveCustomer(
  db: Executor,
  scope: Scope,
  by: { column: 'id' | 'external_id'; value: string },
  options: { forUpdate?: boolean },
) {
  let query = db
    .selectFrom('customers')
    .selectAll()
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where(by.column, '=', by.value)
    .where('status', '=', 'published');
  if (options.forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

export function findCustomerById(db: Executor, scope: Scope, id: string, options: { forUpdate?: boolean } = {}) {
  return findLiveCustomer(db, scope, { column: 'id', value: id }, options);
}

export function findCustomerByExternalId(
  db: Executor,
  scope: Scope,
  externalId: string,
  options: { forUpdate?: boolean } = {},
) {
  return findLiveCustomer(db, scope, { column: 'external_id', value: externalId }, options);
}

export function updateCustomerById(db: Executor, scope: Scope, id: string, changes: Updateable<CustomersTable>) {
  return db
    .updateTable('customers')
    .set(changes)
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export interface CustomerFilter {
  limit: number;
  offset: number;
  status?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: SortCondition[] | string | undefined;
  filters?: FilterCondition[] | undefined;
  customer_ids?: string[] | undefined;
  external_ids?: string[] | undefined;
  external_id?: string | undefined;
  email?: string | undefined;
  metadata?: Record<string, string> | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
}

export async function listCustomersByFilter(db: Executor, scope: Scope, filter: CustomerFilter) {
  let query = db
    .selectFrom('customers')
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('status', '=', filter.status ?? 'published');
  if (filter.customer_ids) query = query.where('id', 'in', filter.customer_ids.length ? filter.customer_ids : ['']);
  if (filter.external_ids) {
    query = query.where('external_id', 'in', filter.external_ids.length ? filter.external_ids : ['']);
  }
  if (filter.external_id !== undefined) query = query.where('external_id', '=', filter.external_id);
  if (filter.email !== undefined) query = query.where('email', '=', filter.email);
  if (filter.metadata && Object.keys(filter.metadata).length > 0) {
    query = query.where(sql<boolean>`metadata @> ${JSON.stringify(filter.metadata)}::jsonb`);
  }
  if (filter.start_time) query = query.where('created_at', '>=', new Date(filter.start_time));
  if (filter.end_time) query = query.where('created_at', '<=', new Date(filter.end_time));
  query = applyFilters(query, filter.filters, CUSTOMER_FIELDS, 'customer');

  const [countRow, rows] = await Promise.all([
    query.select((eb) => eb.fn.countAll<string>().as('total')).executeTakeFirstOrThrow(),
    applySort(query.selectAll(), filter.sort, filter.order, CUSTOMER_FIELDS, 'customer')
      .limit(filter.limit)
      .offset(filter.offset)
      .execute(),
  ]);
  return { rows, total: Number(countRow.total) };
}
