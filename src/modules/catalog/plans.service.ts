import type { Clock } from '../../platform/clock.ts';
import { type Db, type Executor, isUniqueViolation, type Tx, withTransaction } from '../../platform/db/database.ts';
import {
  type FieldMap,
  type FilterCondition,
  pageOf,
  parseExpand,
  type SortCondition,
} from '../../platform/db/query.ts';
import { alreadyExists, invalidOperation, notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { newId } from '../../platform/ids.ts';
import { sql } from 'kysely';
import { checkTimeRange, newRowBase, requireText } from './catalog.common.ts';
import * as repo from './catalog.repo.ts';
import {
  addonView,
  type AddonView,
  type ChildExpansion,
  loadChildren,
  planView,
  type PlanView,
} from './catalog.views.ts';
import type { CreditGrantsService } from './credit-grants.service.ts';
import type { EntitlementsService } from './entitlements.service.ts';

/**
 * Plans and addons: named bundles of prices, entitlements and credit grants (which point at them by entity).
 * They share every use case, so one factory serves both kinds.
 */

/** Fields of a plan or an addon (display_order is a plan's, type an addon's; the other kind ignores it). */
export interface BundleInput {
  name?: string | undefined;
  lookup_key?: string | undefined;
  description?: string | undefined;
  display_order?: number | undefined;
  type?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
}

export interface BundleSearch {
  limit?: number | undefined;
  offset?: number | undefined;
  status?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: SortCondition[] | string | undefined;
  filters?: FilterCondition[] | undefined;
  expand?: string | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
  ids?: string[] | undefined;
  lookup_key?: string | undefined;
  lookup_keys?: string[] | undefined;
  metadata?: Record<string, string> | undefined;
}

/** Something another module checks before a plan or addon may be deleted (subscriptions); returns the reason. */
export type BundleDeletionGuard = (tx: Tx, scope: Scope, id: string) => Promise<string | null>;

export const ADDON_TYPES = ['onetime', 'multiple_instance'] as const;

// Expansion names of the reference (plans: prices, prices.meters, entitlements, entitlements.features,
// credit_grant, meters); credit_grants is accepted as the plural spelling.
const EXPANDABLE = [
  'prices',
  'prices.meters',
  'prices.priceunit',
  'meters',
  'priceunit',
  'entitlements',
  'entitlements.features',
  'features',
  'credit_grant',
  'credit_grants',
] as const;
const FULL: ChildExpansion = {
  prices: true,
  priceMeters: true,
  entitlements: true,
  entitlementFeatures: true,
  creditGrants: true,
};

function expansionOf(expand: string | undefined): ChildExpansion {
  const fields = parseExpand(expand, EXPANDABLE);
  const has = (...names: string[]) => names.some((n) => fields.has(n));
  return {
    prices: has('prices', 'prices.meters', 'prices.priceunit', 'meters', 'priceunit'),
    priceMeters: has('prices.meters', 'meters'),
    entitlements: has('entitlements', 'entitlements.features', 'features'),
    entitlementFeatures: has('entitlements.features', 'features'),
    creditGrants: has('credit_grant', 'credit_grants'),
  };
}

const BUNDLE_FIELDS: FieldMap = {
  ...repo.BASE_FIELDS,
  name: { column: 'name', type: 'string' },
  lookup_key: { column: 'lookup_key', type: 'string' },
  description: { column: 'description', type: 'string' },
};
const PLAN_FIELDS: FieldMap = { ...BUNDLE_FIELDS, display_order: { column: 'display_order', type: 'number' } };
const ADDON_FIELDS: FieldMap = { ...BUNDLE_FIELDS, type: { column: 'type', type: 'string' } };

interface Deps {
  db: Db;
  clock: Clock;
  entitlements: EntitlementsService;
  creditGrants: CreditGrantsService;
}

function createBundleService<K extends 'PLAN' | 'ADDON'>(kind: K, deps: Deps) {
  type View = K extends 'PLAN' ? PlanView : AddonView;
  const { db, clock, entitlements, creditGrants } = deps;
  const table = kind === 'PLAN' ? 'plans' : 'addons';
  const noun = kind === 'PLAN' ? 'plan' : 'addon';
  const uniqueIndex = kind === 'PLAN' ? 'plans_lookup_key_live' : 'addons_lookup_key_live';
  const guards: BundleDeletionGuard[] = [];
  const toView = (row: unknown) =>
    (kind === 'PLAN' ? planView(row as repo.Row<'plans'>) : addonView(row as repo.Row<'addons'>)) as View;

  function conflictOr(error: unknown, lookupKey: string | undefined): unknown {
    if (isUniqueViolation(error, uniqueIndex)) {
      return alreadyExists(`a ${noun} with lookup_key '${lookupKey}' already exists`, { lookup_key: lookupKey });
    }
    return error;
  }

  function columns(input: BundleInput) {
    if (input.display_order !== undefined && !Number.isSafeInteger(input.display_order)) {
      throw validation('display_order must be a whole number');
    }
    if (input.type !== undefined && !(ADDON_TYPES as readonly string[]).includes(input.type)) {
      throw validation(`type must be one of ${ADDON_TYPES.join(', ')}`);
    }
    return {
      ...(input.name !== undefined ? { name: requireText(input.name, 'name') } : {}),
      ...(input.lookup_key !== undefined ? { lookup_key: input.lookup_key.trim() } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.metadata !== undefined ? { metadata: JSON.stringify(input.metadata) } : {}),
      ...(kind === 'PLAN' && input.display_order !== undefined ? { display_order: input.display_order } : {}),
      ...(kind === 'ADDON' && input.type !== undefined ? { type: input.type } : {}),
    };
  }

  async function insertBundle(tx: Tx, scope: Scope, input: BundleInput) {
    const name = requireText(input.name, 'name');
    const lookupKey = input.lookup_key?.trim() ?? '';
    if (kind === 'ADDON' && !lookupKey) throw validation('lookup_key is required');
    const base = { ...newRowBase(scope, newId(kind === 'PLAN' ? 'plan' : 'addon'), clock.now()), ...columns(input) };
    const row =
      kind === 'PLAN'
        ? await repo.insertRow(tx, 'plans', {
            ...base,
            name,
            lookup_key: lookupKey,
            description: input.description ?? '',
            display_order: input.display_order ?? 0,
            metadata: JSON.stringify(input.metadata ?? {}),
          })
        : await repo.insertRow(tx, 'addons', {
            ...base,
            name,
            lookup_key: lookupKey,
            description: input.description ?? '',
            type: input.type ?? 'onetime',
            metadata: JSON.stringify(input.metadata ?? {}),
          });
    return toView(row);
  }

  async function expanded(executor: Executor, scope: Scope, views: View[], expand: ChildExpansion): Promise<View[]> {
    if (!expand.prices && !expand.entitlements && !expand.creditGrants) return views;
    const children = await loadChildren(
      executor,
      scope,
      kind,
      views.map((v) => v.id),
      expand,
    );
    return views.map((v) => children.attach(v));
  }

  async function findView(executor: Executor, scope: Scope, id: string, expand: ChildExpansion): Promise<View> {
    const row = await repo.findRowById(executor, table, scope, id);
    if (!row) throw notFound(noun, { id });
    return (await expanded(executor, scope, [toView(row)], expand))[0]!;
  }

  return {
    addDeletionGuard(guard: BundleDeletionGuard) {
      guards.push(guard);
    },

    /** 201; 400 without a name (addons: without a lookup key); 409 when the lookup key is taken. */
    async create(scope: Scope, input: BundleInput): Promise<View> {
      try {
        return await withTransaction(db, (tx) => insertBundle(tx, scope, input));
      } catch (error) {
        throw conflictOr(error, input.lookup_key);
      }
    },

    /** One plan/addon with its prices (and meters), entitlements (and features) and credit grants. */
    async get(scope: Scope, id: string): Promise<View> {
      return findView(db, scope, id, FULL);
    },

    async getByLookupKey(scope: Scope, lookupKey: string): Promise<View> {
      const row = await repo.findRowByColumn(db, table, scope, 'lookup_key', lookupKey);
      if (!row || !lookupKey) throw notFound(noun, { lookup_key: lookupKey });
      return (await expanded(db, scope, [toView(row)], FULL))[0]!;
    },

    async search(scope: Scope, search: BundleSearch) {
      const expand = expansionOf(search.expand);
      checkTimeRange(search);
      const { limit, offset } = pageOf(search);
      const conditions = [];
      if (search.ids) conditions.push(repo.inList('id', search.ids));
      if (search.lookup_key) conditions.push(repo.equals('lookup_key', search.lookup_key));
      if (search.lookup_keys) conditions.push(repo.inList('lookup_key', search.lookup_keys));
      if (search.metadata && Object.keys(search.metadata).length > 0) {
        conditions.push(sql<boolean>`metadata @> ${JSON.stringify(search.metadata)}::jsonb`);
      }
      const { rows, total } = await repo.listRows(
        db,
        table,
        scope,
        { ...search, limit, offset, conditions },
        kind === 'PLAN' ? PLAN_FIELDS : ADDON_FIELDS,
        noun,
      );
      const items = await expanded(db, scope, rows.map(toView), expand);
      return { items, pagination: { total, limit, offset } };
    },

    /** Partial update; 409 when the new lookup key is taken. */
    async update(scope: Scope, id: string, input: BundleInput): Promise<View> {
      const changes = columns(input);
      if (kind === 'ADDON' && changes.lookup_key === '') throw validation('lookup_key must not be empty');
      try {
        return await withTransaction(db, async (tx) => {
          const current = await repo.findRowById(tx, table, scope, id, { forUpdate: true });
          if (!current) throw notFound(noun, { id });
          await repo.updateRowById(tx, table, scope, id, { ...changes, updated_at: clock.now() });
          return findView(tx, scope, id, FULL);
        });
      } catch (error) {
        throw conflictOr(error, input.lookup_key);
      }
    },

    /**
     * Archives the plan/addon with its prices, entitlements (entitlement.deleted is emitted for each) and credit
     * grants; refused (400 invalid_operation) while a registered guard objects (e.g. live subscriptions).
     */
    async delete(scope: Scope, id: string): Promise<void> {
      await withTransaction(db, async (tx) => {
        const current = await repo.findRowById(tx, table, scope, id, { forUpdate: true });
        if (!current) throw notFound(noun, { id });
        for (const guard of guards) {
          const reason = await guard(tx, scope, id);
          if (reason) throw invalidOperation(reason, { id });
        }
        const now = clock.now();
        const childPrices = await repo.findRowsByColumn(
          tx,
          'prices',
          scope,
          'entity_id',
          [id],
          [repo.equals('entity_type', kind)],
        );
        for (const price of childPrices) {
          await repo.updateRowById(tx, 'prices', scope, price.id, {
            status: 'archived',
            end_date: price.end_date ?? now,
            updated_at: now,
          });
        }
        await entitlements.archiveForEntity(tx, scope, kind, id);
        await creditGrants.archiveForOwner(tx, scope, kind === 'PLAN' ? 'plan_id' : 'addon_id', id);
        await repo.updateRowById(tx, table, scope, id, { status: 'archived', updated_at: now });
      });
    },

    /**
     * A new plan/addon (name and lookup key required) with copies of the source's live prices, entitlements and
     * credit grants; 409 when the lookup key is taken.
     */
    async clone(scope: Scope, id: string, input: BundleInput): Promise<View> {
      const name = requireText(input.name, 'name');
      const lookupKey = requireText(input.lookup_key, 'lookup_key');
      try {
        return await withTransaction(db, async (tx) => {
          const source = await findView(tx, scope, id, FULL);
          const copy = await insertBundle(tx, scope, {
            name,
            lookup_key: lookupKey,
            description: input.description ?? source.description,
            metadata: input.metadata ?? source.metadata,
            ...(kind === 'PLAN'
              ? { display_order: input.display_order ?? (source as PlanView).display_order }
              : { type: (source as AddonView).type }),
          });
          for (const price of source.prices ?? []) {
            const row = await repo.findRowById(tx, 'prices', scope, price.id);
            if (!row) continue;
            await repo.insertRow(tx, 'prices', {
              ...row,
              ...newRowBase(scope, newId('price'), clock.now()),
              entity_id: copy.id,
              // a lookup key identifies one price; the copy starts without one
              lookup_key: '',
              tiers: row.tiers ? JSON.stringify(row.tiers) : null,
              price_unit_tiers: row.price_unit_tiers ? JSON.stringify(row.price_unit_tiers) : null,
              transform_quantity: row.transform_quantity ? JSON.stringify(row.transform_quantity) : null,
              filter_values: row.filter_values ? JSON.stringify(row.filter_values) : null,
              metadata: JSON.stringify(row.metadata ?? {}),
            });
          }
          for (const entitlement of source.entitlements ?? []) {
            await entitlements.copyEntitlement(tx, scope, entitlement, kind, copy.id);
          }
          for (const grant of source.credit_grants ?? []) {
            await creditGrants.insertCreditGrant(tx, scope, {
              name: grant.name,
              scope: kind,
              ...(kind === 'PLAN' ? { plan_id: copy.id } : { addon_id: copy.id }),
              credits: grant.credits,
              cadence: grant.cadence,
              period: grant.period,
              period_count: grant.period_count,
              expiration_type: grant.expiration_type,
              expiration_duration: grant.expiration_duration,
              expiration_duration_unit: grant.expiration_duration_unit,
              priority: grant.priority,
              conversion_rate: grant.conversion_rate,
              topup_conversion_rate: grant.topup_conversion_rate,
              metadata: grant.metadata,
            });
          }
          return findView(tx, scope, copy.id, FULL);
        });
      } catch (error) {
        throw conflictOr(error, lookupKey);
      }
    },
  };
}

export function createPlansService(deps: Deps) {
  return createBundleService('PLAN', deps);
}
export function createAddonsService(deps: Deps) {
  return createBundleService('ADDON', deps);
}
export type PlansService = ReturnType<typeof createPlansService>;
export type AddonsService = ReturnType<typeof createAddonsService>;
