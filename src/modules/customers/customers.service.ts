import type { Clock } from '../../platform/clock.ts';
import { type Db, isUniqueViolation, type Tx, withTransaction } from '../../platform/db/database.ts';
import { type FilterCondition, pageOf, parseExpand, type SortCondition } from '../../platform/db/query.ts';
import { alreadyExists, invalidOperation, notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { newId } from '../../platform/ids.ts';
import { isCountryCode, isEmail, isExternalIdentifier, isTimezone } from '../../platform/validation.ts';
import * as repo from './customers.repo.ts';

export interface CustomerView {
  id: string;
  external_id: string;
  name: string;
  email: string;
  contact: string;
  address_line1: string;
  address_line2: string;
  address_city: string;
  address_state: string;
  address_postal_code: string;
  address_country: string;
  timezone: string;
  metadata: Record<string, string>;
  status: 'published' | 'archived' | 'deleted';
  tenant_id: string;
  environment_id: string;
  created_at: string;
  updated_at: string;
  created_by: string;
  updated_by: string;
}

export interface CustomerFields {
  external_id?: string | undefined;
  name?: string | undefined;
  email?: string | undefined;
  contact?: string | undefined;
  timezone?: string | undefined;
  metadata?: Record<string, string> | undefined;
  address_line1?: string | undefined;
  address_line2?: string | undefined;
  address_city?: string | undefined;
  address_state?: string | undefined;
  address_postal_code?: string | undefined;
  address_country?: string | undefined;
}

export interface CreateCustomerInput extends CustomerFields {
  external_id: string;
  name: string;
}

export interface CustomerSearch {
  limit?: number | undefined;
  offset?: number | undefined;
  status?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: SortCondition[] | string | undefined;
  filters?: FilterCondition[] | undefined;
  expand?: string | undefined;
  customer_ids?: string[] | undefined;
  external_ids?: string[] | undefined;
  external_id?: string | undefined;
  email?: string | undefined;
  metadata?: Record<string, string> | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
}

/**
 * A check another module runs, inside the delete transaction, before a customer may be deleted
 * (e.g. wallets: "has an active wallet"). Returns the reason to refuse, or null.
 */
export type CustomerDeletionGuard = (tx: Tx, scope: Scope, customerId: string) => Promise<string | null>;

/** Something another module does in the same transaction as a customer change (e.g. the webhook outbox). */
export type CustomerChangeListener = (
  tx: Tx,
  scope: Scope,
  change: { type: 'created' | 'updated' | 'deleted'; customer: CustomerView },
) => Promise<void>;

export function customerView(row: repo.CustomerRow): CustomerView {
  return {
    id: row.id,
    external_id: row.external_id,
    name: row.name,
    email: row.email,
    contact: row.contact,
    address_line1: row.address_line1,
    address_line2: row.address_line2,
    address_city: row.address_city,
    address_state: row.address_state,
    address_postal_code: row.address_postal_code,
    address_country: row.address_country,
    timezone: row.timezone,
    metadata: row.metadata ?? {},
    status: row.status as CustomerView['status'],
    tenant_id: row.tenant_id,
    environment_id: row.environment_id,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    created_by: row.created_by,
    updated_by: row.updated_by,
  };
}

function checkFields(input: CustomerFields): void {
  if (input.external_id !== undefined && !isExternalIdentifier(input.external_id)) {
    throw validation('external_id must not be empty or contain spaces or %', { external_id: input.external_id });
  }
  if (input.name !== undefined && input.name.trim() === '') throw validation('name must not be empty');
  if (input.email && !isEmail(input.email)) throw validation('email must be a valid email address');
  if (input.address_country && !isCountryCode(input.address_country)) {
    throw validation('address_country must be an ISO 3166-1 alpha-2 code such as "US"');
  }
  if (input.timezone !== undefined && !isTimezone(input.timezone)) {
    throw validation(`timezone must be an IANA time zone name, got '${input.timezone}'`);
  }
}

const EXPANDABLE: readonly string[] = [];

/** A unique violation on the live external_id index becomes a 409; anything else passes through. */
function externalIdConflictOr(error: unknown, externalId: string | undefined): unknown {
  if (isUniqueViolation(error, repo.CUSTOMER_UNIQUE_EXTERNAL_ID)) {
    return alreadyExists(`a customer with external_id '${externalId}' already exists`, { external_id: externalId });
  }
  return error;
}

/** Customers: one function per use case, each in one transaction. */
export function createCustomersService(deps: { db: Db; clock: Clock }) {
  const { db, clock } = deps;
  const deletionGuards: CustomerDeletionGuard[] = [];
  const changeListeners: CustomerChangeListener[] = [];

  async function notify(tx: Tx, scope: Scope, type: 'created' | 'updated' | 'deleted', customer: CustomerView) {
    for (const listener of changeListeners) await listener(tx, scope, { type, customer });
  }

  async function resolveForUpdate(tx: Tx, scope: Scope, ref: { id?: string; externalId?: string }) {
    const row = ref.id
      ? await repo.findCustomerById(tx, scope, ref.id, { forUpdate: true })
      : await repo.findCustomerByExternalId(tx, scope, ref.externalId ?? '', { forUpdate: true });
    if (!row) throw notFound('customer', ref.id ? { id: ref.id } : { external_id: ref.externalId });
    return row;
  }

  return {
    addDeletionGuard(guard: CustomerDeletionGuard) {
      deletionGuards.push(guard);
    },
    onChange(listener: CustomerChangeListener) {
      changeListeners.push(listener);
    },

    /** 409 already_exists when a live customer of the environment has the external_id. */
    async createCustomer(scope: Scope, input: CreateCustomerInput): Promise<CustomerView> {
      checkFields(input);
      try {
        return await withTransaction(db, async (tx) => {
          const now = clock.now();
          const row = await repo.insertCustomer(tx, {
            id: newId('customer'),
            tenant_id: scope.tenantId,
            environment_id: scope.environmentId,
            external_id: input.external_id,
            name: input.name,
            email: input.email ?? '',
            contact: input.contact ?? '',
            address_line1: input.address_line1 ?? '',
            address_line2: input.address_line2 ?? '',
            address_city: input.address_city ?? '',
            address_state: input.address_state ?? '',
            address_postal_code: input.address_postal_code ?? '',
            address_country: input.address_country ?? '',
            timezone: input.timezone ?? 'UTC',
            metadata: JSON.stringify(input.metadata ?? {}),
            status: 'published',
            created_at: now,
            updated_at: now,
            created_by: '',
            updated_by: '',
          });
          const view = customerView(row);
          await notify(tx, scope, 'created', view);
          return view;
        });
      } catch (error) {
        throw externalIdConflictOr(error, input.external_id);
      }
    },

    async getCustomer(scope: Scope, id: string): Promise<CustomerView> {
      const row = await repo.findCustomerById(db, scope, id);
      if (!row) throw notFound('customer', { id });
      return customerView(row);
    },

    /**
     * The live customer as seen inside `tx`, or undefined. For listeners that run in another module's transaction
     * (e.g. rendering a webhook payload): PGlite has one connection, so they must not read through `db`.
     */
    async findCustomerInTransaction(tx: Tx, scope: Scope, id: string): Promise<CustomerView | undefined> {
      const row = await repo.findCustomerById(tx, scope, id);
      return row ? customerView(row) : undefined;
    },

    async getCustomerByExternalId(scope: Scope, externalId: string): Promise<CustomerView> {
      const row = await repo.findCustomerByExternalId(db, scope, externalId);
      if (!row) throw notFound('customer', { external_id: externalId });
      return customerView(row);
    },

    /** Partial update addressed by id or external id; metadata replaces the whole map. */
    async updateCustomer(
      scope: Scope,
      ref: { id?: string | undefined; externalId?: string | undefined },
      input: CustomerFields,
    ): Promise<CustomerView> {
      if (!ref.id && !ref.externalId) throw validation('either id or external_customer_id is required');
      checkFields(input);
      try {
        return await withTransaction(db, async (tx) => {
          const current = await resolveForUpdate(tx, scope, {
            ...(ref.id ? { id: ref.id } : {}),
            ...(ref.externalId ? { externalId: ref.externalId } : {}),
          });
          const { metadata, ...fields } = input;
          const changes = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
          const row = await repo.updateCustomerById(tx, scope, current.id, {
            ...changes,
            ...(metadata !== undefined ? { metadata: JSON.stringify(metadata) } : {}),
            updated_at: clock.now(),
          });
          const view = customerView(row);
          await notify(tx, scope, 'updated', view);
          return view;
        });
      } catch (error) {
        throw externalIdConflictOr(error, input.external_id);
      }
    },

    /** Soft delete (archived). Refused with invalid_operation while another module's guard objects. */
    async deleteCustomer(scope: Scope, id: string): Promise<void> {
      await withTransaction(db, async (tx) => {
        const current = await resolveForUpdate(tx, scope, { id });
        for (const guard of deletionGuards) {
          const reason = await guard(tx, scope, current.id);
          if (reason) throw invalidOperation(reason, { customer_id: current.id });
        }
        const row = await repo.updateCustomerById(tx, scope, current.id, {
          status: 'archived',
          updated_at: clock.now(),
        });
        await notify(tx, scope, 'deleted', customerView(row));
      });
    },

    async searchCustomers(scope: Scope, search: CustomerSearch) {
      parseExpand(search.expand, EXPANDABLE);
      const { limit, offset } = pageOf(search);
      for (const field of ['start_time', 'end_time'] as const) {
        const value = search[field];
        if (value !== undefined && Number.isNaN(Date.parse(value))) throw validation(`${field} must be RFC 3339`);
      }
      const { rows, total } = await repo.listCustomersByFilter(db, scope, { ...search, limit, offset });
      return { items: rows.map(customerView), pagination: { total, limit, offset } };
    },
  };
}

export type CustomersService = ReturnType<typeof createCustomersService>;
