import type { Clock } from '../../platform/clock.ts';
import { type Db, type Executor, isUniqueViolation, type Tx, withTransaction } from '../../platform/db/database.ts';
import {
  type FieldMap,
  type FilterCondition,
  pageOf,
  parseExpand,
  type SortCondition,
} from '../../platform/db/query.ts';
import { AppError, alreadyExists, notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { newId } from '../../platform/ids.ts';
import { checkTimeRange, listenerSet, newRowBase, timeField } from './catalog.common.ts';
import type { EntityRegistry } from './catalog.entities.ts';
import * as repo from './catalog.repo.ts';
import { addonView, type EntitlementView, loadChildren, loadEntitlementViews, planView } from './catalog.views.ts';
import { meterView } from './meters.service.ts';

export const ENTITLEMENT_ENTITY_TYPES = ['PLAN', 'SUBSCRIPTION', 'ADDON'] as const;
export const USAGE_RESET_PERIODS = [
  'DAILY',
  'WEEKLY',
  'MONTHLY',
  'QUARTERLY',
  'HALF_YEARLY',
  'ANNUAL',
  'NEVER',
] as const;
export const AGGREGATION_MODES = ['additive', 'parallel'] as const;
export const MAX_BULK_ENTITLEMENTS = 100;

export interface CreateEntitlementInput {
  plan_id?: string | undefined;
  entity_type?: string | undefined;
  entity_id?: string | undefined;
  feature_id: string;
  feature_type: string;
  is_enabled?: boolean | undefined;
  usage_limit?: number | null | undefined;
  usage_reset_period?: string | undefined;
  is_soft_limit?: boolean | undefined;
  static_value?: string | undefined;
  config_value?: Record<string, unknown> | undefined;
  parent_entitlement_id?: string | undefined;
  aggregation_mode?: string | undefined;
  start_date?: string | undefined;
  end_date?: string | undefined;
}

const GRANT_FIELDS = [
  'grant_measure',
  'grant_duration_value',
  'grant_duration_unit',
  'grant_allocation_behavior',
  'grant_quota',
] as const;

/** Entitlement grants are not implemented: refuse them explicitly (400) rather than dropping them. */
function refuseGrantFields(input: object): void {
  const used = GRANT_FIELDS.filter((field) => (input as Record<string, unknown>)[field] !== undefined);
  if (used.length > 0) {
    throw validation(`entitlement grants (${used.join(', ')}) are not supported yet`, { fields: used });
  }
}

export interface UpdateEntitlementInput {
  is_enabled?: boolean | undefined;
  usage_limit?: number | null | undefined;
  usage_reset_period?: string | undefined;
  is_soft_limit?: boolean | undefined;
  static_value?: string | undefined;
  config_value?: Record<string, unknown> | undefined;
  aggregation_mode?: string | undefined;
}

export interface EntitlementSearch {
  limit?: number | undefined;
  offset?: number | undefined;
  status?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: SortCondition[] | string | undefined;
  filters?: FilterCondition[] | undefined;
  expand?: string | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
  entity_type?: string | undefined;
  entity_ids?: string[] | undefined;
  plan_ids?: string[] | undefined;
  feature_ids?: string[] | undefined;
  feature_type?: string | undefined;
  is_enabled?: boolean | undefined;
}

export type EntitlementEvent =
  | { type: 'entitlement.created'; entitlement: EntitlementView }
  | { type: 'entitlement.updated'; entitlement: EntitlementView }
  | { type: 'entitlement.deleted'; entitlement: EntitlementView };

const ENTITLEMENT_FIELDS: FieldMap = {
  ...repo.BASE_FIELDS,
  entity_type: { column: 'entity_type', type: 'string' },
  entity_id: { column: 'entity_id', type: 'string' },
  feature_id: { column: 'feature_id', type: 'string' },
  feature_type: { column: 'feature_type', type: 'string' },
  is_enabled: { column: 'is_enabled', type: 'boolean' },
  usage_limit: { column: 'usage_limit', type: 'number' },
  usage_reset_period: { column: 'usage_reset_period', type: 'string' },
  is_soft_limit: { column: 'is_soft_limit', type: 'boolean' },
  static_value: { column: 'static_value', type: 'string' },
  display_order: { column: 'display_order', type: 'number' },
};

const EXPANDABLE = ['features', 'meters', 'plans', 'addons'] as const;
const UNIQUE_INDEX = 'entitlements_entity_feature_live';

function oneOf(value: string | undefined, allowed: readonly string[], field: string): string {
  if (value === undefined || !allowed.includes(value)) {
    throw validation(`${field} must be one of ${allowed.join(', ')}`, { field, value });
  }
  return value;
}

function checkUsageLimit(value: number | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  if (!Number.isSafeInteger(value) || value < 0) throw validation('usage_limit must be a whole number, zero or more');
  return String(value);
}

function checkConfigValue(value: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value) || Object.keys(value).length === 0) {
    throw validation('config_value is required for config features');
  }
  for (const key of Object.keys(value)) {
    if (!key.trim()) throw validation('config_value keys must not be blank');
  }
  return value;
}

/** The per-type rules of the reference, for the fields a create or an update sets. */
function typedFields(
  featureType: string,
  input: UpdateEntitlementInput,
  isCreate: boolean,
): Partial<{
  is_enabled: boolean;
  usage_limit: string | null;
  usage_reset_period: string;
  is_soft_limit: boolean;
  static_value: string;
  config_value: string;
}> {
  const out: ReturnType<typeof typedFields> = {};
  const metered = featureType === 'metered';
  if (!metered) {
    if (input.usage_limit !== undefined && input.usage_limit !== null) {
      throw validation('usage_limit is only allowed for metered features');
    }
    if (input.usage_reset_period !== undefined) {
      throw validation('usage_reset_period is only allowed for metered features');
    }
    if (input.is_soft_limit) throw validation('is_soft_limit is only allowed for metered features');
  }
  if (featureType !== 'static' && input.static_value !== undefined && input.static_value !== '') {
    throw validation('static_value is only allowed for static features');
  }
  if (featureType !== 'config' && input.config_value !== undefined) {
    throw validation('config_value is only allowed for config features');
  }
  // the reference forces is_enabled on for everything but boolean features
  if (featureType === 'boolean') {
    if (input.is_enabled !== undefined || isCreate) out.is_enabled = input.is_enabled ?? false;
  } else if (isCreate) out.is_enabled = true;
  if (metered) {
    if (input.usage_limit !== undefined) out.usage_limit = checkUsageLimit(input.usage_limit);
    if (input.usage_reset_period !== undefined) {
      out.usage_reset_period = oneOf(input.usage_reset_period, USAGE_RESET_PERIODS, 'usage_reset_period');
    }
    if (input.is_soft_limit !== undefined) out.is_soft_limit = input.is_soft_limit;
  }
  if (featureType === 'static') {
    if (isCreate || input.static_value !== undefined) {
      const value = (input.static_value ?? '').trim();
      if (!value) throw validation('static_value is required for static features');
      out.static_value = value;
    }
  }
  if (featureType === 'config' && (isCreate || input.config_value !== undefined)) {
    out.config_value = JSON.stringify(checkConfigValue(input.config_value));
  }
  return out;
}

/** Entitlements: which features (and how much of them) a plan, addon or subscription grants. */
export function createEntitlementsService(deps: { db: Db; clock: Clock; entities: EntityRegistry }) {
  const { db, clock, entities } = deps;
  const events = listenerSet<EntitlementEvent>();

  /**
   * The webhook view of the reference's seed page: the entitlement with its feature (and meter), and its plan or
   * addon with that entity's prices and credit grants.
   */
  async function fullView(executor: Executor, scope: Scope, row: repo.Row<'entitlements'>): Promise<EntitlementView> {
    const [view] = await loadEntitlementViews(executor, scope, [row], true);
    const entitlement = view!;
    if (row.entity_type === 'PLAN' || row.entity_type === 'ADDON') {
      const table = row.entity_type === 'PLAN' ? 'plans' : 'addons';
      const owner = await repo.findRowById(executor, table, scope, row.entity_id);
      if (owner) {
        const children = await loadChildren(executor, scope, row.entity_type, [owner.id], {
          prices: true,
          priceMeters: true,
          creditGrants: true,
        });
        if (row.entity_type === 'PLAN') entitlement.plan = children.attach(planView(owner as repo.Row<'plans'>));
        else entitlement.addon = children.attach(addonView(owner as repo.Row<'addons'>));
      }
    }
    return entitlement;
  }

  async function insertEntitlement(tx: Tx, scope: Scope, input: CreateEntitlementInput) {
    refuseGrantFields(input);
    let entityType = input.entity_type;
    let entityId = input.entity_id;
    if (input.plan_id) {
      if (entityType !== undefined && entityType !== 'PLAN') {
        throw validation('plan_id can only be combined with entity_type PLAN');
      }
      if (entityId !== undefined && entityId !== input.plan_id) throw validation('plan_id and entity_id differ');
      entityType = 'PLAN';
      entityId = input.plan_id;
    }
    if (entityType === undefined || !entityId) throw validation('plan_id or entity_type with entity_id is required');
    entityType = oneOf(entityType, ENTITLEMENT_ENTITY_TYPES, 'entity_type');
    if (!input.feature_id) throw validation('feature_id is required');
    const aggregationMode =
      input.aggregation_mode === undefined
        ? 'additive'
        : oneOf(input.aggregation_mode, AGGREGATION_MODES, 'aggregation_mode');
    const startDate = timeField(input.start_date, 'start_date');
    const endDate = timeField(input.end_date, 'end_date');
    if (startDate && endDate && endDate <= startDate) throw validation('end_date must be after start_date');

    const feature = await repo.findRowById(tx, 'features', scope, input.feature_id);
    if (!feature) throw notFound('feature', { id: input.feature_id });
    if (input.feature_type !== feature.type) {
      throw validation(`feature_type must be '${feature.type}', the type of feature ${feature.id}`);
    }
    if (feature.meter_id) {
      const meter = await repo.findRowById(tx, 'meters', scope, feature.meter_id);
      const aggregation = meter ? meterView(meter).aggregation : undefined;
      if (aggregation?.type === 'MAX' && aggregation.bucket_size) {
        throw validation('entitlements are not supported for features on a bucketed MAX meter');
      }
    }
    const fields = typedFields(feature.type, input, true);
    await entities.requireEntity(tx, scope, entityType, entityId);
    if (input.parent_entitlement_id) {
      const parent = await repo.findRowById(tx, 'entitlements', scope, input.parent_entitlement_id);
      if (!parent) throw notFound('entitlement', { id: input.parent_entitlement_id });
    }
    if (aggregationMode === 'additive') {
      const existing = await repo.findRowsByColumn(
        tx,
        'entitlements',
        scope,
        'entity_id',
        [entityId],
        [
          repo.equals('entity_type', entityType),
          repo.equals('feature_id', feature.id),
          repo.equals('aggregation_mode', 'additive'),
        ],
      );
      if (existing.length > 0) {
        throw alreadyExists(`the ${entityType.toLowerCase()} already has an entitlement for this feature`, {
          entitlement_id: existing[0]!.id,
        });
      }
    }
    const row = await repo.insertRow(tx, 'entitlements', {
      ...newRowBase(scope, newId('entitlement'), clock.now()),
      entity_type: entityType,
      entity_id: entityId,
      feature_id: feature.id,
      feature_type: feature.type,
      is_enabled: fields.is_enabled ?? true,
      usage_limit: fields.usage_limit ?? null,
      usage_reset_period: fields.usage_reset_period ?? '',
      is_soft_limit: fields.is_soft_limit ?? false,
      static_value: fields.static_value ?? '',
      config_value: fields.config_value ?? null,
      display_order: 0,
      parent_entitlement_id: input.parent_entitlement_id ?? null,
      aggregation_mode: aggregationMode,
      start_date: startDate,
      end_date: endDate,
    });
    const view = await fullView(tx, scope, row);
    await events.emit(tx, scope, { type: 'entitlement.created', entitlement: view });
    return view;
  }

  function conflictOr(error: unknown): unknown {
    if (isUniqueViolation(error, UNIQUE_INDEX)) {
      return alreadyExists('the entity already has an entitlement for this feature');
    }
    return error;
  }

  async function listFor(scope: Scope, entityType: 'PLAN' | 'ADDON', id: string) {
    const owner = await repo.findRowById(db, entityType === 'PLAN' ? 'plans' : 'addons', scope, id);
    if (!owner) throw notFound(entityType.toLowerCase(), { id });
    const rows = await repo.findRowsByColumn(
      db,
      'entitlements',
      scope,
      'entity_id',
      [id],
      [repo.equals('entity_type', entityType)],
    );
    const items = await loadEntitlementViews(db, scope, rows, true, true);
    return { items, pagination: { total: items.length, limit: items.length, offset: 0 } };
  }

  /** The HTTP view of a webhook view: the owning plan or addon without its prices and credit grants. */
  function strip(view: EntitlementView): EntitlementView {
    const { plan, addon, ...rest } = view;
    const bare = <O extends { prices?: unknown; entitlements?: unknown; credit_grants?: unknown }>(owner: O) => {
      const { prices: _p, entitlements: _e, credit_grants: _c, ...fields } = owner;
      return fields;
    };
    return { ...rest, ...(plan ? { plan: bare(plan) } : {}), ...(addon ? { addon: bare(addon) } : {}) };
  }

  return {
    /** `listener(tx, scope, event)` runs inside the business transaction of every entitlement change. */
    onEvent(listener: (tx: Tx, scope: Scope, event: EntitlementEvent) => Promise<void>) {
      events.add(listener);
    },

    /**
     * 400 on a rule (feature_type mismatch, static without static_value, usage_limit on a boolean feature, a
     * bucketed MAX meter, …), 404 for an unknown feature/plan/addon, 409 when the entity already has the feature.
     */
    async createEntitlement(scope: Scope, input: CreateEntitlementInput): Promise<EntitlementView> {
      try {
        return strip(await withTransaction(db, (tx) => insertEntitlement(tx, scope, input)));
      } catch (error) {
        throw conflictOr(error);
      }
    },

    /** 1..100 entitlements, all or none; a failing item is named by its index. */
    async createEntitlementsBulk(scope: Scope, items: CreateEntitlementInput[]): Promise<{ items: EntitlementView[] }> {
      if (items.length === 0 || items.length > MAX_BULK_ENTITLEMENTS) {
        throw validation(`items must hold 1 to ${MAX_BULK_ENTITLEMENTS} entitlements`);
      }
      try {
        return await withTransaction(db, async (tx) => {
          const created: EntitlementView[] = [];
          for (const [index, item] of items.entries()) {
            try {
              created.push(strip(await insertEntitlement(tx, scope, item)));
            } catch (error) {
              if (error instanceof AppError) {
                throw new AppError(error.code, `items[${index}]: ${error.message}`, { ...error.details, index });
              }
              throw error;
            }
          }
          return { items: created };
        });
      } catch (error) {
        throw conflictOr(error);
      }
    },

    async getEntitlement(scope: Scope, id: string): Promise<EntitlementView> {
      const row = await repo.findRowById(db, 'entitlements', scope, id);
      if (!row) throw notFound('entitlement', { id });
      return (await loadEntitlementViews(db, scope, [row], true, true))[0]!;
    },

    async searchEntitlements(scope: Scope, search: EntitlementSearch) {
      const expand = parseExpand(search.expand, EXPANDABLE);
      checkTimeRange(search);
      const { limit, offset } = pageOf(search);
      const conditions = [];
      if (search.entity_type) conditions.push(repo.equals('entity_type', search.entity_type));
      if (search.entity_ids) conditions.push(repo.inList('entity_id', search.entity_ids));
      if (search.plan_ids) {
        conditions.push(repo.equals('entity_type', 'PLAN'), repo.inList('entity_id', search.plan_ids));
      }
      if (search.feature_ids) conditions.push(repo.inList('feature_id', search.feature_ids));
      if (search.feature_type) conditions.push(repo.equals('feature_type', search.feature_type));
      if (search.is_enabled !== undefined) conditions.push(repo.equals('is_enabled', search.is_enabled));
      const { rows, total } = await repo.listRows(
        db,
        'entitlements',
        scope,
        { ...search, limit, offset, conditions },
        ENTITLEMENT_FIELDS,
        'entitlement',
      );
      const items = await loadEntitlementViews(db, scope, rows, expand.has('features') || expand.has('meters'), true);
      return { items, pagination: { total, limit, offset } };
    },

    listPlanEntitlements: (scope: Scope, planId: string) => listFor(scope, 'PLAN', planId),
    listAddonEntitlements: (scope: Scope, addonId: string) => listFor(scope, 'ADDON', addonId),

    /** Partial update under the same per-type rules as create; `usage_limit: null` makes it unlimited. */
    async updateEntitlement(scope: Scope, id: string, input: UpdateEntitlementInput): Promise<EntitlementView> {
      refuseGrantFields(input);
      return withTransaction(db, async (tx) => {
        const current = await repo.findRowById(tx, 'entitlements', scope, id, { forUpdate: true });
        if (!current) throw notFound('entitlement', { id });
        const fields = typedFields(current.feature_type, input, false);
        const aggregationMode =
          input.aggregation_mode === undefined
            ? undefined
            : oneOf(input.aggregation_mode, AGGREGATION_MODES, 'aggregation_mode');
        const row = await repo.updateRowById(tx, 'entitlements', scope, id, {
          ...fields,
          ...(aggregationMode ? { aggregation_mode: aggregationMode } : {}),
          updated_at: clock.now(),
        });
        const view = await fullView(tx, scope, row);
        await events.emit(tx, scope, { type: 'entitlement.updated', entitlement: view });
        return strip(view);
      });
    },

    async deleteEntitlement(scope: Scope, id: string): Promise<void> {
      await withTransaction(db, async (tx) => {
        const current = await repo.findRowById(tx, 'entitlements', scope, id, { forUpdate: true });
        if (!current) throw notFound('entitlement', { id });
        await archive(tx, scope, current);
      });
    },

    /** Archives every live entitlement of a plan or addon (their deletion), emitting entitlement.deleted for each. */
    async archiveForEntity(tx: Tx, scope: Scope, entityType: 'PLAN' | 'ADDON', entityId: string): Promise<void> {
      const rows = await repo.findRowsByColumn(
        tx,
        'entitlements',
        scope,
        'entity_id',
        [entityId],
        [repo.equals('entity_type', entityType)],
      );
      for (const row of rows) await archive(tx, scope, row);
    },

    /**
     * A subscription's override of one of its plan's or addons' entitlements (`override_entitlements` on create):
     * a SUBSCRIPTION entitlement with `parent_entitlement_id` (which replaces the parent in the aggregation), a copy
     * of the parent with `usage_limit` (metered; null = unlimited), `is_enabled` (boolean features), `static_value`
     * (static) or `config_value` (config) replaced, validated as any entitlement create. The parent must belong to
     * one of `owners` (400 otherwise); emits entitlement.created.
     */
    async overrideForSubscription(
      tx: Tx,
      scope: Scope,
      input: {
        subscription_id: string;
        entitlement_id: string;
        owners: Array<{ entity_type: 'PLAN' | 'ADDON'; entity_id: string }>;
        usage_limit?: number | null | undefined;
        is_enabled?: boolean | undefined;
        static_value?: string | undefined;
        config_value?: Record<string, unknown> | undefined;
      },
    ) {
      const parent = await repo.findRowById(tx, 'entitlements', scope, input.entitlement_id);
      if (
        !parent ||
        !input.owners.some((o) => o.entity_type === parent.entity_type && o.entity_id === parent.entity_id)
      ) {
        throw validation("entitlement_id must be an entitlement of the subscription's plan or addons", {
          entitlement_id: input.entitlement_id,
        });
      }
      const source = await fullView(tx, scope, parent);
      const type = source.feature_type;
      if (input.is_enabled !== undefined && type !== 'boolean') {
        throw validation('is_enabled can only be overridden for boolean features');
      }
      if (input.usage_limit !== undefined && type !== 'metered') {
        throw validation('usage_limit is only allowed for metered features');
      }
      return insertEntitlement(tx, scope, {
        entity_type: 'SUBSCRIPTION',
        entity_id: input.subscription_id,
        feature_id: source.feature_id,
        feature_type: type,
        is_enabled: input.is_enabled ?? source.is_enabled,
        usage_limit:
          type === 'metered' ? (input.usage_limit !== undefined ? input.usage_limit : source.usage_limit) : undefined,
        usage_reset_period: source.usage_reset_period,
        is_soft_limit: type === 'metered' ? source.is_soft_limit : undefined,
        static_value: type === 'static' ? (input.static_value ?? source.static_value) : input.static_value,
        config_value: type === 'config' ? (input.config_value ?? source.config_value) : input.config_value,
        parent_entitlement_id: parent.id,
        aggregation_mode: source.aggregation_mode,
      });
    },

    /** Copies an entitlement onto another entity (plan clone), emitting entitlement.created. */
    async copyEntitlement(
      tx: Tx,
      scope: Scope,
      source: EntitlementView,
      entityType: 'PLAN' | 'ADDON',
      entityId: string,
    ) {
      return insertEntitlement(tx, scope, {
        entity_type: entityType,
        entity_id: entityId,
        feature_id: source.feature_id,
        feature_type: source.feature_type,
        is_enabled: source.is_enabled,
        usage_limit: source.feature_type === 'metered' ? source.usage_limit : undefined,
        usage_reset_period: source.usage_reset_period,
        is_soft_limit: source.feature_type === 'metered' ? source.is_soft_limit : undefined,
        static_value: source.feature_type === 'static' ? source.static_value : undefined,
        config_value: source.config_value,
        aggregation_mode: source.aggregation_mode,
      });
    },
  };

  async function archive(tx: Tx, scope: Scope, current: repo.Row<'entitlements'>) {
    // the payload describes the entitlement as it was, with its owner still attached
    const before = await fullView(tx, scope, current);
    const row = await repo.updateRowById(tx, 'entitlements', scope, current.id, {
      status: 'archived',
      updated_at: clock.now(),
    });
    await events.emit(tx, scope, {
      type: 'entitlement.deleted',
      entitlement: {
        ...before,
        status: row.status as EntitlementView['status'],
        updated_at: row.updated_at.toISOString(),
      },
    });
  }
}

export type EntitlementsService = ReturnType<typeof createEntitlementsService>;
