import { sql } from 'kysely';
import type { Clock } from '../../platform/clock.ts';
import { type Db, type Executor, isUniqueViolation, type Tx, withTransaction } from '../../platform/db/database.ts';
import {
  type FieldMap,
  type FilterCondition,
  pageOf,
  parseExpand,
  type SortCondition,
} from '../../platform/db/query.ts';
import type { PriceTierColumn, PricesTable } from '../../platform/db/schema.ts';
import { AppError, alreadyExists, invalidOperation, notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { newId } from '../../platform/ids.ts';
import { dec, type Money, toWire } from '../../platform/money.ts';
import type { Insertable } from 'kysely';
import {
  checkTimeRange,
  decimalField,
  newRowBase,
  nonNegativeDecimal,
  positiveDecimal,
  requireText,
  timeField,
} from './catalog.common.ts';
import type { EntityRegistry } from './catalog.entities.ts';
import * as repo from './catalog.repo.ts';
import { loadPriceViews, priceUnitView, type PriceUnitView, type PriceView, pricingSpecOf } from './catalog.views.ts';
import { chargeFor, type PricingSpec } from './pricing.ts';

export const PRICE_ENTITY_TYPES = ['PLAN', 'SUBSCRIPTION', 'ADDON', 'PRICE', 'COSTSHEET'] as const;
export const PRICE_TYPES = ['USAGE', 'FIXED'] as const;
export const PRICE_UNIT_TYPES = ['FIAT', 'CUSTOM'] as const;
export const BILLING_PERIODS = ['DAILY', 'WEEKLY', 'MONTHLY', 'QUARTERLY', 'HALF_YEARLY', 'ANNUAL', 'ONETIME'] as const;
export const BILLING_MODELS = ['FLAT_FEE', 'PACKAGE', 'TIERED'] as const;
export const BILLING_CADENCES = ['RECURRING', 'ONETIME'] as const;
export const INVOICE_CADENCES = ['ARREAR', 'ADVANCE'] as const;
export const TIER_MODES = ['VOLUME', 'SLAB'] as const;
export const MAX_BULK_PRICES = 100;

export interface TierInput {
  up_to?: number | null | undefined;
  unit_amount: string | number;
  flat_amount?: string | number | undefined;
}

export interface CreatePriceInput {
  entity_type: string;
  entity_id: string;
  type: string;
  billing_model: string;
  billing_period: string;
  billing_period_count?: number | undefined;
  billing_cadence?: string | undefined;
  invoice_cadence: string;
  currency: string;
  price_unit_type: string;
  amount?: string | number | undefined;
  meter_id?: string | undefined;
  filter_values?: Record<string, string[]> | undefined;
  lookup_key?: string | undefined;
  trial_period_days?: number | undefined;
  /** the SDK's name for trial_period_days */
  trial_period?: number | undefined;
  description?: string | undefined;
  display_name?: string | undefined;
  metadata?: Record<string, string> | undefined;
  tier_mode?: string | undefined;
  tiers?: TierInput[] | undefined;
  transform_quantity?: { divide_by: number; round?: string | undefined } | undefined;
  price_unit_config?:
    | { price_unit: string; amount?: string | number | undefined; price_unit_tiers?: TierInput[] | undefined }
    | undefined;
  start_date?: string | undefined;
  end_date?: string | undefined;
  min_quantity?: number | string | undefined;
  group_id?: string | undefined;
  parent_price_id?: string | undefined;
}

export interface UpdatePriceInput {
  amount?: string | number | undefined;
  billing_model?: string | undefined;
  tier_mode?: string | undefined;
  tiers?: TierInput[] | undefined;
  transform_quantity?: { divide_by: number; round?: string | undefined } | undefined;
  price_unit_amount?: string | number | undefined;
  price_unit_tiers?: TierInput[] | undefined;
  effective_from?: string | undefined;
  lookup_key?: string | undefined;
  description?: string | undefined;
  display_name?: string | undefined;
  metadata?: Record<string, string> | undefined;
  group_id?: string | undefined;
}

export interface PriceSearch {
  limit?: number | undefined;
  offset?: number | undefined;
  status?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: SortCondition[] | string | undefined;
  filters?: FilterCondition[] | undefined;
  expand?: string | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
  price_ids?: string[] | undefined;
  entity_type?: string | undefined;
  entity_ids?: string[] | undefined;
  plan_ids?: string[] | undefined;
  meter_ids?: string[] | undefined;
  billing_periods?: string[] | undefined;
  parent_price_id?: string | undefined;
  allow_expired_prices?: boolean | undefined;
  start_date_lt?: string | undefined;
}

export interface CreatePriceUnitInput {
  name: string;
  code: string;
  symbol: string;
  base_currency: string;
  conversion_rate: string | number;
  metadata?: Record<string, string> | undefined;
}

export interface PriceUnitSearch {
  limit?: number | undefined;
  offset?: number | undefined;
  status?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: SortCondition[] | string | undefined;
  filters?: FilterCondition[] | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
  price_unit_ids?: string[] | undefined;
}

const PRICE_FIELDS: FieldMap = {
  ...repo.BASE_FIELDS,
  entity_type: { column: 'entity_type', type: 'string' },
  entity_id: { column: 'entity_id', type: 'string' },
  type: { column: 'type', type: 'string' },
  billing_model: { column: 'billing_model', type: 'string' },
  billing_period: { column: 'billing_period', type: 'string' },
  billing_period_count: { column: 'billing_period_count', type: 'number' },
  invoice_cadence: { column: 'invoice_cadence', type: 'string' },
  currency: { column: 'currency', type: 'string' },
  amount: { column: 'amount', type: 'number' },
  meter_id: { column: 'meter_id', type: 'string' },
  lookup_key: { column: 'lookup_key', type: 'string' },
  display_name: { column: 'display_name', type: 'string' },
  start_date: { column: 'start_date', type: 'date' },
  end_date: { column: 'end_date', type: 'date' },
};

const PRICE_UNIT_FIELDS: FieldMap = {
  ...repo.BASE_FIELDS,
  name: { column: 'name', type: 'string' },
  code: { column: 'code', type: 'string' },
  symbol: { column: 'symbol', type: 'string' },
  base_currency: { column: 'base_currency', type: 'string' },
  conversion_rate: { column: 'conversion_rate', type: 'number' },
};

const PRICE_EXPANDABLE = ['meters', 'price_unit'] as const;

function oneOf(value: string | undefined, allowed: readonly string[], field: string): string {
  if (value === undefined || !allowed.includes(value)) {
    throw validation(`${field} must be one of ${allowed.join(', ')}`, { field, value });
  }
  return value;
}

/** Tiers: non-negative amounts, up_to strictly increasing, only the last one unbounded. */
export function checkTiers(tiers: TierInput[], field: string): PriceTierColumn[] {
  if (tiers.length === 0) throw validation(`${field} must not be empty`);
  let previous = 0;
  return tiers.map((tier, index) => {
    const isLast = index === tiers.length - 1;
    const upTo = tier.up_to ?? null;
    if (upTo === null && !isLast) throw validation(`${field}[${index}].up_to is required except on the last tier`);
    if (upTo !== null) {
      if (!Number.isSafeInteger(upTo) || upTo <= previous) {
        throw validation(`${field}[${index}].up_to must be a whole number above the previous tier's up_to`);
      }
      previous = upTo;
    }
    const unit = nonNegativeDecimal(tier.unit_amount, `${field}[${index}].unit_amount`);
    const flat =
      tier.flat_amount === undefined || tier.flat_amount === ''
        ? undefined
        : nonNegativeDecimal(tier.flat_amount, `${field}[${index}].flat_amount`);
    return { up_to: upTo, unit_amount: toWire(unit), ...(flat !== undefined ? { flat_amount: toWire(flat) } : {}) };
  });
}

function convertTiers(tiers: PriceTierColumn[], rate: Money): PriceTierColumn[] {
  return tiers.map((t) => ({
    up_to: t.up_to,
    unit_amount: toWire(dec(t.unit_amount).mul(rate)),
    ...(t.flat_amount !== undefined ? { flat_amount: toWire(dec(t.flat_amount).mul(rate)) } : {}),
  }));
}

function checkTransform(
  transform: { divide_by: number; round?: string | undefined } | undefined,
): { divide_by: number; round: string } | null {
  if (!transform) return null;
  if (!Number.isSafeInteger(transform.divide_by) || transform.divide_by < 1) {
    throw validation('transform_quantity.divide_by must be a whole number of at least 1');
  }
  const round = transform.round ?? 'up';
  if (round !== 'up' && round !== 'down') throw validation("transform_quantity.round must be 'up' or 'down'");
  return { divide_by: transform.divide_by, round };
}

const LOOKUP_KEY_INDEX = 'prices_lookup_key_live';
const PRICE_UNIT_CODE_INDEX = 'price_units_code_live';

/** Prices and custom price units. Creates validate every rule of the reference before writing anything. */
export function createPricesService(deps: { db: Db; clock: Clock; entities: EntityRegistry }) {
  const { db, clock, entities } = deps;

  /** The pricing columns (model, amount, tiers, transform, custom unit) checked together, as create and update do. */
  async function pricingColumns(
    executor: Executor,
    scope: Scope,
    input: {
      type: string;
      currency: string;
      billing_model: string;
      price_unit_type: string;
      amount?: string | number | undefined;
      tier_mode?: string | undefined;
      tiers?: TierInput[] | undefined;
      transform_quantity?: { divide_by: number; round?: string | undefined } | undefined;
      price_unit_config?: CreatePriceInput['price_unit_config'];
    },
  ) {
    const model = oneOf(input.billing_model, BILLING_MODELS, 'billing_model');
    const unitType = oneOf(input.price_unit_type, PRICE_UNIT_TYPES, 'price_unit_type');
    const custom = unitType === 'CUSTOM';
    if (custom && !input.price_unit_config) throw validation('price_unit_config is required for CUSTOM prices');
    if (!custom && input.price_unit_config) throw validation('price_unit_config is only allowed for CUSTOM prices');
    const config = input.price_unit_config;

    let unit: repo.Row<'price_units'> | undefined;
    if (config) {
      const code = requireText(config.price_unit, 'price_unit_config.price_unit').toLowerCase();
      if (code.length !== 3) throw validation('price_unit_config.price_unit must be a 3-character code');
      unit = await repo.findRowByColumn(executor, 'price_units', scope, 'code', code);
      if (!unit) throw notFound('price unit', { code });
      if (unit.base_currency !== input.currency) {
        throw validation(`price unit ${code} is based on ${unit.base_currency}, not ${input.currency}`);
      }
    }
    const rate = unit ? dec(unit.conversion_rate) : undefined;
    const amountSource = custom ? config?.amount : input.amount;
    const tierSource = custom ? config?.price_unit_tiers : input.tiers;
    const amountField = custom ? 'price_unit_config.amount' : 'amount';
    const tierField = custom ? 'price_unit_config.price_unit_tiers' : 'tiers';

    let amount: Money | undefined;
    if (amountSource !== undefined && amountSource !== '') amount = nonNegativeDecimal(amountSource, amountField);
    let tierMode: string | null = null;
    let tiers: PriceTierColumn[] | null = null;
    let transform: { divide_by: number; round: string } | null = null;
    if (model === 'FLAT_FEE' && amount === undefined) throw validation(`${amountField} is required for FLAT_FEE`);
    if (model === 'PACKAGE') {
      if (!input.transform_quantity) throw validation('transform_quantity is required for PACKAGE');
      if (amount === undefined) throw validation(`${amountField} is required for PACKAGE`);
      transform = checkTransform(input.transform_quantity);
    } else if (input.transform_quantity) {
      throw validation('transform_quantity is only allowed for PACKAGE');
    }
    if (model === 'TIERED') {
      if (!tierSource || tierSource.length === 0) throw validation(`${tierField} are required for TIERED`);
      tierMode = input.tier_mode === undefined ? 'VOLUME' : oneOf(input.tier_mode, TIER_MODES, 'tier_mode');
      tiers = checkTiers(tierSource, tierField);
    } else if (tierSource && tierSource.length > 0) {
      throw validation(`${tierField} are only allowed for TIERED`);
    }
    const amountInUnit = amount ?? dec(0);
    return {
      billing_model: model,
      price_unit_type: unitType,
      amount: toWire(rate ? amountInUnit.mul(rate) : amountInUnit),
      tier_mode: tierMode,
      tiers: tiers ? JSON.stringify(rate ? convertTiers(tiers, rate) : tiers) : null,
      transform_quantity: transform ? JSON.stringify(transform) : null,
      price_unit_id: unit?.id ?? null,
      price_unit: unit?.code ?? null,
      price_unit_amount: unit ? toWire(amountInUnit) : null,
      conversion_rate: unit ? toWire(unit.conversion_rate) : null,
      price_unit_tiers: unit && tiers ? JSON.stringify(tiers) : null,
    };
  }

  /** Validates one create request and inserts it inside the caller's transaction. */
  async function insertPrice(tx: Tx, scope: Scope, input: CreatePriceInput): Promise<repo.Row<'prices'>> {
    const entityType = oneOf(input.entity_type, PRICE_ENTITY_TYPES, 'entity_type');
    const type = oneOf(input.type, PRICE_TYPES, 'type');
    const period = oneOf(input.billing_period, BILLING_PERIODS, 'billing_period');
    const invoiceCadence = oneOf(input.invoice_cadence, INVOICE_CADENCES, 'invoice_cadence');
    const cadence =
      input.billing_cadence === undefined
        ? 'RECURRING'
        : oneOf(input.billing_cadence, BILLING_CADENCES, 'billing_cadence');
    const currency = requireText(input.currency, 'currency').toLowerCase();
    if (currency.length !== 3) throw validation('currency must be a 3-letter code');
    const periodCount = input.billing_period_count ?? 1;
    if (!Number.isSafeInteger(periodCount) || periodCount < 1) {
      throw validation('billing_period_count must be a whole number of at least 1');
    }
    if (period === 'ONETIME' && invoiceCadence !== 'ADVANCE') {
      throw validation('invoice_cadence must be ADVANCE for a ONETIME billing period');
    }
    const trialDays = input.trial_period_days ?? input.trial_period ?? 0;
    if (!Number.isSafeInteger(trialDays) || trialDays < 0) throw validation('trial_period_days must not be negative');
    if (trialDays > 0 && (type !== 'FIXED' || period === 'ONETIME')) {
      throw validation('trial_period_days is only allowed on recurring FIXED prices');
    }
    let minQuantity: string | null = null;
    if (input.min_quantity !== undefined && input.min_quantity !== '') {
      if (type === 'USAGE') throw validation('min_quantity is not allowed on USAGE prices');
      minQuantity = toWire(nonNegativeDecimal(input.min_quantity, 'min_quantity'));
    }
    if (type === 'USAGE' && !input.meter_id) throw validation('meter_id is required for USAGE prices');
    if (type === 'FIXED' && input.meter_id) throw validation('meter_id is only allowed on USAGE prices');
    if (input.filter_values && type !== 'USAGE') throw validation('filter_values are only allowed on USAGE prices');
    const startDate = timeField(input.start_date, 'start_date') ?? clock.now();
    const endDate = timeField(input.end_date, 'end_date');
    if (endDate && endDate <= startDate) throw validation('end_date must be after start_date');
    const pricing = await pricingColumns(tx, scope, { ...input, type, currency });

    await entities.requireEntity(tx, scope, entityType, input.entity_id);
    if (input.meter_id && !(await repo.findRowById(tx, 'meters', scope, input.meter_id))) {
      throw notFound('meter', { id: input.meter_id });
    }
    const row: Insertable<PricesTable> = {
      ...newRowBase(scope, newId('price'), clock.now()),
      entity_type: entityType,
      entity_id: input.entity_id,
      type,
      billing_cadence: cadence,
      billing_period: period,
      billing_period_count: periodCount,
      invoice_cadence: invoiceCadence,
      currency,
      display_amount: '',
      ...pricing,
      meter_id: input.meter_id ?? null,
      filter_values: input.filter_values ? JSON.stringify(input.filter_values) : null,
      lookup_key: input.lookup_key?.trim() ?? '',
      trial_period_days: trialDays,
      min_quantity: minQuantity,
      description: input.description ?? '',
      display_name: input.display_name ?? '',
      group_id: input.group_id ?? '',
      parent_price_id: input.parent_price_id ?? null,
      start_date: startDate,
      end_date: endDate,
      metadata: JSON.stringify(input.metadata ?? {}),
    };
    return repo.insertRow(tx, 'prices', row);
  }

  function lookupKeyConflictOr(error: unknown): unknown {
    if (isUniqueViolation(error, LOOKUP_KEY_INDEX)) return alreadyExists('a price with this lookup_key already exists');
    if (isUniqueViolation(error, PRICE_UNIT_CODE_INDEX)) {
      return alreadyExists('a price unit with this code already exists');
    }
    return error;
  }

  async function views(executor: Executor, scope: Scope, rows: Array<repo.Row<'prices'>>) {
    return loadPriceViews(executor, scope, rows, true, true);
  }

  return {
    insertPrice,

    /** 400 on any rule (PACKAGE without transform_quantity, USAGE without meter, …), 404 for unknown entity/meter. */
    async createPrice(scope: Scope, input: CreatePriceInput): Promise<PriceView> {
      try {
        return await withTransaction(
          db,
          async (tx) => (await views(tx, scope, [await insertPrice(tx, scope, input)]))[0]!,
        );
      } catch (error) {
        throw lookupKeyConflictOr(error);
      }
    },

    /** 1..100 prices in one transaction: all are created or none (the error names the failing index). */
    async createPricesBulk(scope: Scope, items: CreatePriceInput[]): Promise<{ items: PriceView[] }> {
      if (items.length === 0 || items.length > MAX_BULK_PRICES) {
        throw validation(`items must hold 1 to ${MAX_BULK_PRICES} prices`);
      }
      try {
        return await withTransaction(db, async (tx) => {
          const rows = [];
          for (const [index, item] of items.entries()) {
            try {
              rows.push(await insertPrice(tx, scope, item));
            } catch (error) {
              if (error instanceof AppError) {
                throw new AppError(error.code, `items[${index}]: ${error.message}`, { ...error.details, index });
              }
              throw error;
            }
          }
          return { items: await views(tx, scope, rows) };
        });
      } catch (error) {
        throw lookupKeyConflictOr(error);
      }
    },

    async getPrice(scope: Scope, id: string): Promise<PriceView> {
      const row = await repo.findRowById(db, 'prices', scope, id);
      if (!row) throw notFound('price', { id });
      return (await views(db, scope, [row]))[0]!;
    },

    async getPriceByLookupKey(scope: Scope, lookupKey: string): Promise<PriceView> {
      const row = await repo.findRowByColumn(db, 'prices', scope, 'lookup_key', lookupKey);
      if (!row) throw notFound('price', { lookup_key: lookupKey });
      return (await views(db, scope, [row]))[0]!;
    },

    /** The charge for a quantity under a stored price, rounded to its currency (what billing calls). */
    async chargeForPrice(executor: Executor, scope: Scope, priceId: string, quantity: string): Promise<string> {
      const row = await repo.findRowById(executor, 'prices', scope, priceId);
      if (!row) throw notFound('price', { id: priceId });
      return toWire(chargeFor(pricingSpecOf(row), decimalField(quantity, 'quantity')));
    },

    /**
     * What each price charges (for usage analytics), by id, whatever the price's status: subscription line items
     * keep pricing with the price they snapshotted even after it is archived or replaced.
     */
    async pricingSpecsByIds(executor: Executor, scope: Scope, ids: string[]): Promise<Map<string, PricingSpec>> {
      if (ids.length === 0) return new Map();
      const rows = await executor
        .selectFrom('prices')
        .selectAll()
        .where('tenant_id', '=', scope.tenantId)
        .where('environment_id', '=', scope.environmentId)
        .where('id', 'in', [...new Set(ids)])
        .execute();
      return new Map(rows.map((row) => [row.id, pricingSpecOf(row)]));
    },

    async searchPrices(scope: Scope, search: PriceSearch) {
      const expand = parseExpand(search.expand, PRICE_EXPANDABLE);
      checkTimeRange(search);
      const { limit, offset } = pageOf(search);
      const conditions = [];
      if (search.price_ids) conditions.push(repo.inList('id', search.price_ids));
      if (search.entity_type) conditions.push(repo.equals('entity_type', search.entity_type));
      if (search.entity_ids) conditions.push(repo.inList('entity_id', search.entity_ids));
      if (search.plan_ids) {
        conditions.push(repo.equals('entity_type', 'PLAN'), repo.inList('entity_id', search.plan_ids));
      }
      if (search.meter_ids) conditions.push(repo.inList('meter_id', search.meter_ids));
      if (search.billing_periods) conditions.push(repo.inList('billing_period', search.billing_periods));
      if (search.parent_price_id) conditions.push(repo.equals('parent_price_id', search.parent_price_id));
      if (!search.allow_expired_prices) {
        conditions.push(sql<boolean>`(end_date is null or end_date > ${clock.now()})`);
      }
      if (search.start_date_lt) {
        conditions.push(sql<boolean>`start_date < ${timeField(search.start_date_lt, 'start_date_lt')}`);
      }
      const { rows, total } = await repo.listRows(
        db,
        'prices',
        scope,
        { ...search, limit, offset, conditions },
        PRICE_FIELDS,
        'price',
      );
      const items = await loadPriceViews(db, scope, rows, expand.has('meters'), true);
      return { items, pagination: { total, limit, offset } };
    },

    /**
     * Descriptive fields change in place. A change to what the price charges (amount, model, tiers, transform,
     * custom-unit amounts) never rewrites history: the price ends at `effective_from` (default now) and a new price
     * with `parent_price_id` takes over from then; the new price is returned.
     */
    async updatePrice(scope: Scope, id: string, input: UpdatePriceInput): Promise<PriceView> {
      try {
        return await withTransaction(db, async (tx) => {
          const current = await repo.findRowById(tx, 'prices', scope, id, { forUpdate: true });
          if (!current) throw notFound('price', { id });
          const descriptive = {
            ...(input.lookup_key !== undefined ? { lookup_key: input.lookup_key.trim() } : {}),
            ...(input.description !== undefined ? { description: input.description } : {}),
            ...(input.display_name !== undefined ? { display_name: input.display_name } : {}),
            ...(input.metadata !== undefined ? { metadata: JSON.stringify(input.metadata) } : {}),
            ...(input.group_id !== undefined ? { group_id: input.group_id } : {}),
          };
          const pricingChanged = [
            input.amount,
            input.billing_model,
            input.tier_mode,
            input.tiers,
            input.transform_quantity,
            input.price_unit_amount,
            input.price_unit_tiers,
          ].some((v) => v !== undefined);
          if (!pricingChanged) {
            const row = await repo.updateRowById(tx, 'prices', scope, id, { ...descriptive, updated_at: clock.now() });
            return (await views(tx, scope, [row]))[0]!;
          }
          const effective = timeField(input.effective_from, 'effective_from') ?? clock.now();
          if (current.start_date && effective < current.start_date) {
            throw validation('effective_from must not be before the price starts');
          }
          if (current.end_date && effective >= current.end_date) {
            throw invalidOperation('the price has already ended at effective_from');
          }
          const custom = current.price_unit_type === 'CUSTOM';
          const model = input.billing_model ?? current.billing_model;
          const keepTiers = (tiers: PriceTierColumn[] | null) =>
            tiers?.map((t) => ({ up_to: t.up_to, unit_amount: t.unit_amount, flat_amount: t.flat_amount }));
          const pricing = await pricingColumns(tx, scope, {
            type: current.type,
            currency: current.currency,
            billing_model: model,
            price_unit_type: current.price_unit_type,
            amount: custom ? undefined : (input.amount ?? current.amount),
            tier_mode: input.tier_mode ?? current.tier_mode ?? undefined,
            tiers: custom ? undefined : (input.tiers ?? (model === 'TIERED' ? keepTiers(current.tiers) : undefined)),
            transform_quantity:
              input.transform_quantity ?? (model === 'PACKAGE' ? (current.transform_quantity ?? undefined) : undefined),
            price_unit_config: custom
              ? {
                  price_unit: current.price_unit ?? '',
                  amount: input.price_unit_amount ?? current.price_unit_amount ?? undefined,
                  price_unit_tiers:
                    input.price_unit_tiers ?? (model === 'TIERED' ? keepTiers(current.price_unit_tiers) : undefined),
                }
              : undefined,
          });
          const now = clock.now();
          // the old price keeps its lookup key only until the new one takes it over
          await repo.updateRowById(tx, 'prices', scope, id, { end_date: effective, lookup_key: '', updated_at: now });
          const row = await repo.insertRow(tx, 'prices', {
            ...current,
            ...newRowBase(scope, newId('price'), now),
            ...pricing,
            lookup_key: current.lookup_key,
            ...descriptive,
            metadata: descriptive.metadata ?? JSON.stringify(current.metadata ?? {}),
            tiers: pricing.tiers,
            transform_quantity: pricing.transform_quantity,
            price_unit_tiers: pricing.price_unit_tiers,
            filter_values: current.filter_values ? JSON.stringify(current.filter_values) : null,
            parent_price_id: current.id,
            start_date: effective,
            end_date: current.end_date,
          });
          return (await views(tx, scope, [row]))[0]!;
        });
      } catch (error) {
        throw lookupKeyConflictOr(error);
      }
    },

    /** Archives the price; `end_date` (default now) records when it stopped applying. */
    async deletePrice(scope: Scope, id: string, input: { end_date?: string | undefined } = {}): Promise<void> {
      const endDate = timeField(input.end_date, 'end_date');
      await withTransaction(db, async (tx) => {
        const current = await repo.findRowById(tx, 'prices', scope, id, { forUpdate: true });
        if (!current) throw notFound('price', { id });
        const end = endDate ?? clock.now();
        if (current.start_date && end < current.start_date) throw validation('end_date must not be before start_date');
        await repo.updateRowById(tx, 'prices', scope, id, {
          status: 'archived',
          end_date: end,
          updated_at: clock.now(),
        });
      });
    },

    // ---- price units ----

    /** 400 on a bad code/currency/rate, 409 when the code is taken in the environment. */
    async createPriceUnit(scope: Scope, input: CreatePriceUnitInput): Promise<PriceUnitView> {
      const name = requireText(input.name, 'name');
      const code = requireText(input.code, 'code').toLowerCase();
      if (code.length !== 3) throw validation('code must be 3 characters');
      const symbol = requireText(input.symbol, 'symbol');
      if (symbol.length > 10) throw validation('symbol must be at most 10 characters');
      const baseCurrency = requireText(input.base_currency, 'base_currency').toLowerCase();
      if (baseCurrency.length !== 3) throw validation('base_currency must be a 3-letter currency code');
      const rate = positiveDecimal(input.conversion_rate, 'conversion_rate');
      try {
        return await withTransaction(db, async (tx) =>
          priceUnitView(
            await repo.insertRow(tx, 'price_units', {
              ...newRowBase(scope, newId('priceUnit'), clock.now()),
              name,
              code,
              symbol,
              base_currency: baseCurrency,
              conversion_rate: toWire(rate),
              metadata: JSON.stringify(input.metadata ?? {}),
            }),
          ),
        );
      } catch (error) {
        throw lookupKeyConflictOr(error);
      }
    },

    async getPriceUnit(scope: Scope, id: string): Promise<PriceUnitView> {
      const row = await repo.findRowById(db, 'price_units', scope, id);
      if (!row) throw notFound('price unit', { id });
      return priceUnitView(row);
    },

    async getPriceUnitByCode(scope: Scope, code: string): Promise<PriceUnitView> {
      const row = await repo.findRowByColumn(db, 'price_units', scope, 'code', code.toLowerCase());
      if (!row) throw notFound('price unit', { code });
      return priceUnitView(row);
    },

    async searchPriceUnits(scope: Scope, search: PriceUnitSearch) {
      checkTimeRange(search);
      const { limit, offset } = pageOf(search);
      const conditions = search.price_unit_ids ? [repo.inList('id', search.price_unit_ids)] : [];
      const { rows, total } = await repo.listRows(
        db,
        'price_units',
        scope,
        { ...search, limit, offset, conditions },
        PRICE_UNIT_FIELDS,
        'price unit',
      );
      return { items: rows.map(priceUnitView), pagination: { total, limit, offset } };
    },

    /** Only name and metadata change: the code and rate are baked into the prices that use the unit. */
    async updatePriceUnit(
      scope: Scope,
      id: string,
      input: { name?: string | undefined; metadata?: Record<string, string> | undefined },
    ): Promise<PriceUnitView> {
      if (input.name !== undefined) requireText(input.name, 'name');
      return withTransaction(db, async (tx) => {
        const current = await repo.findRowById(tx, 'price_units', scope, id, { forUpdate: true });
        if (!current) throw notFound('price unit', { id });
        const row = await repo.updateRowById(tx, 'price_units', scope, id, {
          ...(input.name !== undefined ? { name: input.name.trim() } : {}),
          ...(input.metadata !== undefined ? { metadata: JSON.stringify(input.metadata) } : {}),
          updated_at: clock.now(),
        });
        return priceUnitView(row);
      });
    },

    /** Archives the unit; refused while a live price uses it. */
    async deletePriceUnit(scope: Scope, id: string): Promise<void> {
      await withTransaction(db, async (tx) => {
        const current = await repo.findRowById(tx, 'price_units', scope, id, { forUpdate: true });
        if (!current) throw notFound('price unit', { id });
        const prices = await repo.findRowsByColumn(tx, 'prices', scope, 'price_unit_id', [id]);
        if (prices.length > 0) {
          throw invalidOperation('price unit is used by prices; delete those first', {
            price_ids: prices.map((p) => p.id),
          });
        }
        await repo.updateRowById(tx, 'price_units', scope, id, { status: 'archived', updated_at: clock.now() });
      });
    },
  };
}

export type PricesService = ReturnType<typeof createPricesService>;
