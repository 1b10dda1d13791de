import type { Insertable } from 'kysely';
import type { Clock } from '../../platform/clock.ts';
import { type Db, type Tx, withTransaction } from '../../platform/db/database.ts';
import { type FieldMap, type FilterCondition, pageOf, type SortCondition } from '../../platform/db/query.ts';
import type { CreditGrantsTable } from '../../platform/db/schema.ts';
import { notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { newId } from '../../platform/ids.ts';
import { toWire } from '../../platform/money.ts';
import { checkTimeRange, newRowBase, positiveDecimal, requireText, timeField } from './catalog.common.ts';
import type { EntityRegistry } from './catalog.entities.ts';
import * as repo from './catalog.repo.ts';
import { creditGrantView, type CreditGrantView } from './catalog.views.ts';

export const CREDIT_GRANT_SCOPES = ['PLAN', 'SUBSCRIPTION', 'ADDON'] as const;
export const CREDIT_GRANT_CADENCES = ['ONETIME', 'RECURRING'] as const;
export const CREDIT_GRANT_PERIODS = ['DAILY', 'WEEKLY', 'MONTHLY', 'QUARTERLY', 'HALF_YEARLY', 'ANNUAL'] as const;
export const EXPIRATION_TYPES = ['NEVER', 'DURATION', 'BILLING_CYCLE'] as const;
export const EXPIRATION_UNITS = ['DAY', 'WEEK', 'MONTH', 'YEAR'] as const;

export interface CreateCreditGrantInput {
  name: string;
  scope: string;
  plan_id?: string | undefined;
  addon_id?: string | undefined;
  subscription_id?: string | undefined;
  credits: string | number;
  cadence: string;
  period?: string | undefined;
  period_count?: number | undefined;
  expiration_type?: string | undefined;
  expiration_duration?: number | undefined;
  expiration_duration_unit?: string | undefined;
  priority?: number | undefined;
  conversion_rate?: string | number | undefined;
  topup_conversion_rate?: string | number | undefined;
  start_date?: string | undefined;
  end_date?: string | undefined;
  metadata?: Record<string, string> | undefined;
}

export interface UpdateCreditGrantInput {
  name?: string | undefined;
  metadata?: Record<string, string> | undefined;
  end_date?: string | undefined;
}

export interface CreditGrantSearch {
  limit?: number | undefined;
  offset?: number | undefined;
  status?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: SortCondition[] | string | undefined;
  filters?: FilterCondition[] | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
  credit_grant_ids?: string[] | undefined;
  plan_ids?: string[] | undefined;
  addon_ids?: string[] | undefined;
  subscription_ids?: string[] | undefined;
  scope?: string | undefined;
}

const CREDIT_GRANT_FIELDS: FieldMap = {
  ...repo.BASE_FIELDS,
  name: { column: 'name', type: 'string' },
  scope: { column: 'scope', type: 'string' },
  plan_id: { column: 'plan_id', type: 'string' },
  addon_id: { column: 'addon_id', type: 'string' },
  subscription_id: { column: 'subscription_id', type: 'string' },
  credits: { column: 'credits', type: 'number' },
  cadence: { column: 'cadence', type: 'string' },
  priority: { column: 'priority', type: 'number' },
};

function oneOf(value: string | undefined, allowed: readonly string[], field: string): string {
  if (value === undefined || !allowed.includes(value)) {
    throw validation(`${field} must be one of ${allowed.join(', ')}`, { field, value });
  }
  return value;
}

function positiveInteger(value: number | undefined, field: string): number {
  if (value === undefined || !Number.isSafeInteger(value) || value <= 0) {
    throw validation(`${field} must be a whole number above zero`, { field });
  }
  return value;
}

/**
 * Credit grants: credits a plan, addon or subscription hands out once or every period. Plan and addon grants are
 * templates; applying them to wallets belongs to billing, which reads them through `grantsFor`.
 */
export function createCreditGrantsService(deps: { db: Db; clock: Clock; entities: EntityRegistry }) {
  const { db, clock, entities } = deps;

  async function insertCreditGrant(tx: Tx, scope: Scope, input: CreateCreditGrantInput): Promise<CreditGrantView> {
    const name = requireText(input.name, 'name');
    const grantScope = oneOf(input.scope, CREDIT_GRANT_SCOPES, 'scope');
    const credits = positiveDecimal(input.credits, 'credits');
    const cadence = oneOf(input.cadence, CREDIT_GRANT_CADENCES, 'cadence');
    let period: string | null = null;
    let periodCount: number | null = null;
    if (cadence === 'RECURRING') {
      period = oneOf(input.period, CREDIT_GRANT_PERIODS, 'period');
      periodCount = positiveInteger(input.period_count, 'period_count');
    } else if (input.period !== undefined || input.period_count !== undefined) {
      throw validation('period and period_count are only allowed for RECURRING grants');
    }
    const expirationType =
      input.expiration_type === undefined ? 'NEVER' : oneOf(input.expiration_type, EXPIRATION_TYPES, 'expiration_type');
    let duration: number | null = null;
    let durationUnit: string | null = null;
    if (expirationType === 'DURATION') {
      duration = positiveInteger(input.expiration_duration, 'expiration_duration');
      durationUnit = oneOf(input.expiration_duration_unit, EXPIRATION_UNITS, 'expiration_duration_unit');
    } else if (input.expiration_duration !== undefined || input.expiration_duration_unit !== undefined) {
      throw validation('expiration_duration and its unit are only allowed for DURATION expiration');
    }
    if (input.priority !== undefined && (!Number.isSafeInteger(input.priority) || input.priority < 0)) {
      throw validation('priority must be a whole number, zero or more');
    }
    const rate = input.conversion_rate === undefined ? null : positiveDecimal(input.conversion_rate, 'conversion_rate');
    const topupRate =
      input.topup_conversion_rate === undefined
        ? null
        : positiveDecimal(input.topup_conversion_rate, 'topup_conversion_rate');
    const startDate = timeField(input.start_date, 'start_date');
    const endDate = timeField(input.end_date, 'end_date');

    const ids = { plan_id: input.plan_id, addon_id: input.addon_id, subscription_id: input.subscription_id };
    const owner = { PLAN: 'plan_id', ADDON: 'addon_id', SUBSCRIPTION: 'subscription_id' } as const;
    const ownerField = owner[grantScope as keyof typeof owner];
    const ownerId = ids[ownerField];
    if (!ownerId) throw validation(`${ownerField} is required for scope ${grantScope}`);
    for (const [field, value] of Object.entries(ids)) {
      if (field !== ownerField && value) throw validation(`${field} is not allowed for scope ${grantScope}`);
    }
    if (grantScope === 'SUBSCRIPTION') {
      if (!startDate) throw validation('start_date is required for scope SUBSCRIPTION');
      if (endDate && endDate <= startDate) throw validation('end_date must be after start_date');
    } else if (startDate || endDate) {
      throw validation(
        `start_date and end_date are not allowed for scope ${grantScope} (they come from the subscription)`,
      );
    }
    await entities.requireEntity(tx, scope, grantScope, ownerId);

    const row: Insertable<CreditGrantsTable> = {
      ...newRowBase(scope, newId('creditGrant'), clock.now()),
      name,
      scope: grantScope,
      plan_id: grantScope === 'PLAN' ? ownerId : null,
      addon_id: grantScope === 'ADDON' ? ownerId : null,
      subscription_id: grantScope === 'SUBSCRIPTION' ? ownerId : null,
      credits: toWire(credits),
      cadence,
      period,
      period_count: periodCount,
      expiration_type: expirationType,
      expiration_duration: duration,
      expiration_duration_unit: durationUnit,
      priority: input.priority ?? null,
      conversion_rate: rate ? toWire(rate) : null,
      topup_conversion_rate: topupRate ? toWire(topupRate) : null,
      start_date: startDate,
      end_date: endDate,
      credit_grant_anchor: startDate,
      metadata: JSON.stringify(input.metadata ?? {}),
    };
    return creditGrantView(await repo.insertRow(tx, 'credit_grants', row));
  }

  async function listFor(scope: Scope, column: 'plan_id' | 'addon_id', table: 'plans' | 'addons', id: string) {
    const owner = await repo.findRowById(db, table, scope, id);
    if (!owner) throw notFound(table === 'plans' ? 'plan' : 'addon', { id });
    const rows = await repo.findRowsByColumn(db, 'credit_grants', scope, column, [id]);
    return { items: rows.map(creditGrantView), pagination: { total: rows.length, limit: rows.length, offset: 0 } };
  }

  return {
    insertCreditGrant,

    /** 400 on any rule (scope without its id, recurring without period, …); 404 for an unknown plan/addon. */
    async createCreditGrant(scope: Scope, input: CreateCreditGrantInput): Promise<CreditGrantView> {
      return withTransaction(db, (tx) => insertCreditGrant(tx, scope, input));
    },

    async getCreditGrant(scope: Scope, id: string): Promise<CreditGrantView> {
      const row = await repo.findRowById(db, 'credit_grants', scope, id);
      if (!row) throw notFound('credit grant', { id });
      return creditGrantView(row);
    },

    async searchCreditGrants(scope: Scope, search: CreditGrantSearch) {
      checkTimeRange(search);
      const { limit, offset } = pageOf(search);
      const conditions = [];
      if (search.credit_grant_ids) conditions.push(repo.inList('id', search.credit_grant_ids));
      if (search.plan_ids) conditions.push(repo.inList('plan_id', search.plan_ids));
      if (search.addon_ids) conditions.push(repo.inList('addon_id', search.addon_ids));
      if (search.subscription_ids) conditions.push(repo.inList('subscription_id', search.subscription_ids));
      if (search.scope) conditions.push(repo.equals('scope', search.scope));
      const { rows, total } = await repo.listRows(
        db,
        'credit_grants',
        scope,
        { ...search, limit, offset, conditions },
        CREDIT_GRANT_FIELDS,
        'credit grant',
      );
      return { items: rows.map(creditGrantView), pagination: { total, limit, offset } };
    },

    /** The live grants of a plan or addon, oldest first (404 when the plan/addon does not exist). */
    listPlanCreditGrants: (scope: Scope, planId: string) => listFor(scope, 'plan_id', 'plans', planId),
    listAddonCreditGrants: (scope: Scope, addonId: string) => listFor(scope, 'addon_id', 'addons', addonId),

    /** Name, metadata and end_date only: what a grant gives is fixed once created. */
    async updateCreditGrant(scope: Scope, id: string, input: UpdateCreditGrantInput): Promise<CreditGrantView> {
      if (input.name !== undefined) requireText(input.name, 'name');
      const endDate = timeField(input.end_date, 'end_date');
      return withTransaction(db, async (tx) => {
        const current = await repo.findRowById(tx, 'credit_grants', scope, id, { forUpdate: true });
        if (!current) throw notFound('credit grant', { id });
        if (endDate && current.start_date && endDate <= current.start_date) {
          throw validation('end_date must be after start_date');
        }
        const row = await repo.updateRowById(tx, 'credit_grants', scope, id, {
          ...(input.name !== undefined ? { name: input.name.trim() } : {}),
          ...(input.metadata !== undefined ? { metadata: JSON.stringify(input.metadata) } : {}),
          ...(endDate ? { end_date: endDate } : {}),
          updated_at: clock.now(),
        });
        return creditGrantView(row);
      });
    },

    async deleteCreditGrant(scope: Scope, id: string): Promise<void> {
      await withTransaction(db, async (tx) => {
        const current = await repo.findRowById(tx, 'credit_grants', scope, id, { forUpdate: true });
        if (!current) throw notFound('credit grant', { id });
        await repo.updateRowById(tx, 'credit_grants', scope, id, { status: 'archived', updated_at: clock.now() });
      });
    },

    /**
     * A draft subscription activated at `to` instead of its draft start `from`: its grants that started with it (or
     * would start before the new start) start at `to`, so their first application comes with the activation.
     */
    async moveSubscriptionGrantStarts(tx: Tx, scope: Scope, subscriptionId: string, from: Date, to: Date) {
      await tx
        .updateTable('credit_grants')
        .set({ start_date: to, credit_grant_anchor: to, updated_at: clock.now() })
        .where('tenant_id', '=', scope.tenantId)
        .where('environment_id', '=', scope.environmentId)
        .where('scope', '=', 'SUBSCRIPTION')
        .where('subscription_id', '=', subscriptionId)
        .where('status', '=', 'published')
        .where((eb) => eb.or([eb('start_date', '=', from), eb('start_date', '<', to)]))
        .execute();
    },

    /** Archives every live grant of a plan or addon (their deletion). */
    async archiveForOwner(tx: Tx, scope: Scope, column: 'plan_id' | 'addon_id', ownerId: string): Promise<void> {
      const rows = await repo.findRowsByColumn(tx, 'credit_grants', scope, column, [ownerId]);
      for (const row of rows) {
        await repo.updateRowById(tx, 'credit_grants', scope, row.id, { status: 'archived', updated_at: clock.now() });
      }
    },
  };
}

export type CreditGrantsService = ReturnType<typeof createCreditGrantsService>;
