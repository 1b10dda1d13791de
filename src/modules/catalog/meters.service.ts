import type { Clock } from '../../platform/clock.ts';
import { type Db, type Executor, type Tx, withTransaction } from '../../platform/db/database.ts';
import { type FieldMap, type FilterCondition, pageOf, type SortCondition } from '../../platform/db/query.ts';
import type { MeterAggregationColumn } from '../../platform/db/schema.ts';
import { invalidOperation, notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { newId } from '../../platform/ids.ts';
import { toWire } from '../../platform/money.ts';
import { auditView, type AuditView, checkTimeRange, decimalField, newRowBase, requireText } from './catalog.common.ts';
import * as repo from './catalog.repo.ts';

// One list of aggregation types and window sizes for meters and the usage API.
import { AGGREGATION_TYPES, type AggregationType, WINDOW_SIZES, type WindowSize } from '../events/events.schemas.ts';
export { AGGREGATION_TYPES, type AggregationType, WINDOW_SIZES, type WindowSize };
export const RESET_USAGE = ['BILLING_PERIOD', 'NEVER'] as const;
export type ResetUsage = (typeof RESET_USAGE)[number];

const EXPRESSION_TYPES: readonly string[] = ['SUM', 'AVG', 'MAX', 'LATEST'];
const BUCKET_TYPES: readonly string[] = ['MAX', 'SUM'];

export interface MeterFilter {
  key: string;
  values: string[];
}

export interface AggregationInput {
  type: AggregationType;
  field?: string | undefined;
  expression?: string | undefined;
  multiplier?: string | number | undefined;
  bucket_size?: WindowSize | undefined;
  group_by?: string | undefined;
}

export interface CreateMeterInput {
  name: string;
  event_name: string;
  aggregation: AggregationInput;
  filters?: MeterFilter[] | undefined;
  reset_usage?: ResetUsage | undefined;
}

export interface MeterView extends AuditView {
  id: string;
  name: string;
  event_name: string;
  aggregation: {
    type: AggregationType;
    field?: string;
    expression?: string;
    multiplier?: string;
    bucket_size?: WindowSize;
    group_by?: string;
  };
  filters: MeterFilter[];
  reset_usage: ResetUsage;
}

/**
 * What the events module's usage aggregation takes (`UsageInput` of events.service): a meter row feeds it
 * directly, with the customer and time range added by the caller.
 */
export interface MeterUsageSpec {
  event_name: string;
  aggregation_type: AggregationType;
  property_name?: string;
  filters?: Record<string, string[]>;
  multiplier?: string;
  bucket_size?: WindowSize;
  group_by?: string[];
}

export interface MeterSearch {
  limit?: number | undefined;
  offset?: number | undefined;
  status?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: SortCondition[] | string | undefined;
  filters?: FilterCondition[] | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
  meter_ids?: string[] | undefined;
  event_name?: string | undefined;
}

const METER_FIELDS: FieldMap = {
  ...repo.BASE_FIELDS,
  name: { column: 'name', type: 'string' },
  event_name: { column: 'event_name', type: 'string' },
  reset_usage: { column: 'reset_usage', type: 'string' },
};

export function meterView(row: repo.Row<'meters'>): MeterView {
  const a = row.aggregation;
  return {
    id: row.id,
    name: row.name,
    event_name: row.event_name,
    aggregation: {
      type: a.type as AggregationType,
      ...(a.field ? { field: a.field } : {}),
      ...(a.expression ? { expression: a.expression } : {}),
      ...(a.multiplier ? { multiplier: a.multiplier } : {}),
      ...(a.bucket_size ? { bucket_size: a.bucket_size as WindowSize } : {}),
      ...(a.group_by ? { group_by: a.group_by } : {}),
    },
    filters: row.filters ?? [],
    reset_usage: row.reset_usage as ResetUsage,
    ...auditView(row),
  };
}

export function meterUsageSpec(meter: MeterView): MeterUsageSpec {
  const { aggregation: a, filters } = meter;
  return {
    event_name: meter.event_name,
    aggregation_type: a.type,
    ...(a.field ? { property_name: a.field } : {}),
    ...(filters.length ? { filters: Object.fromEntries(filters.map((f) => [f.key, f.values])) } : {}),
    ...(a.multiplier ? { multiplier: a.multiplier } : {}),
    ...(a.bucket_size ? { bucket_size: a.bucket_size } : {}),
    ...(a.group_by ? { group_by: [`properties.${a.group_by}`] } : {}),
  };
}

function checkFilters(filters: MeterFilter[]): MeterFilter[] {
  return filters.map((filter, index) => {
    if (!filter.key || !filter.key.trim()) throw validation(`filters[${index}].key must not be empty`);
    if (!Array.isArray(filter.values) || filter.values.length === 0) {
      throw validation(`filters[${index}].values must have at least one value`, { key: filter.key });
    }
    return { key: filter.key.trim(), values: [...filter.values] };
  });
}

/** The reference's aggregation rules; returns the column form. */
export function checkAggregation(input: AggregationInput): MeterAggregationColumn {
  const type = input.type;
  if (!(AGGREGATION_TYPES as readonly string[]).includes(type)) {
    throw validation(`aggregation.type must be one of ${AGGREGATION_TYPES.join(', ')}`);
  }
  const field = input.field?.trim() || undefined;
  const expression = input.expression?.trim() || undefined;
  if (type !== 'COUNT' && !field && !expression) {
    throw validation(`aggregation.field or aggregation.expression is required for ${type}`);
  }
  if (expression && field) throw validation('aggregation.field and aggregation.expression are mutually exclusive');
  if (expression && !EXPRESSION_TYPES.includes(type)) {
    throw validation(`aggregation.expression is only allowed for ${EXPRESSION_TYPES.join(', ')}`);
  }
  let multiplier: string | undefined;
  if (type === 'SUM_WITH_MULTIPLIER') {
    if (input.multiplier === undefined || input.multiplier === '') {
      throw validation('aggregation.multiplier is required for SUM_WITH_MULTIPLIER');
    }
    const value = decimalField(input.multiplier, 'aggregation.multiplier');
    if (!value.gt(0)) throw validation('aggregation.multiplier must be greater than zero');
    multiplier = toWire(value);
  } else if (input.multiplier !== undefined && input.multiplier !== '') {
    throw validation('aggregation.multiplier is only allowed for SUM_WITH_MULTIPLIER');
  }
  if (input.bucket_size !== undefined) {
    if (!(WINDOW_SIZES as readonly string[]).includes(input.bucket_size)) {
      throw validation(`aggregation.bucket_size must be one of ${WINDOW_SIZES.join(', ')}`);
    }
    if (!BUCKET_TYPES.includes(type)) throw validation('aggregation.bucket_size is only allowed for MAX or SUM');
  }
  const groupBy = input.group_by?.trim() || undefined;
  if (groupBy && !(type === 'MAX' && input.bucket_size)) {
    throw validation('aggregation.group_by is only allowed for MAX with a bucket_size');
  }
  // CEL expressions are valid in the reference; this engine does not evaluate them, so it says so instead of
  // storing a meter whose usage it could not compute.
  if (expression) throw validation('aggregation.expression (CEL) is not supported yet; use field');
  return {
    type,
    ...(field ? { field } : {}),
    ...(multiplier ? { multiplier } : {}),
    ...(input.bucket_size ? { bucket_size: input.bucket_size } : {}),
    ...(groupBy ? { group_by: groupBy } : {}),
  };
}

/** Meters: what to count from which events. Each use case is one transaction. */
export function createMetersService(deps: { db: Db; clock: Clock }) {
  const { db, clock } = deps;

  /** Validates and inserts inside the caller's transaction (features create their inline meter this way). */
  async function insertMeter(tx: Tx, scope: Scope, input: CreateMeterInput): Promise<MeterView> {
    const name = requireText(input.name, 'name');
    const eventName = requireText(input.event_name, 'event_name');
    if (!input.aggregation || typeof input.aggregation !== 'object') throw validation('aggregation is required');
    const aggregation = checkAggregation(input.aggregation);
    const filters = checkFilters(input.filters ?? []);
    const resetUsage = input.reset_usage ?? 'BILLING_PERIOD';
    if (!(RESET_USAGE as readonly string[]).includes(resetUsage)) {
      throw validation(`reset_usage must be one of ${RESET_USAGE.join(', ')}`);
    }
    const row = await repo.insertRow(tx, 'meters', {
      ...newRowBase(scope, newId('meter'), clock.now()),
      name,
      event_name: eventName,
      aggregation: JSON.stringify(aggregation),
      filters: JSON.stringify(filters),
      reset_usage: resetUsage,
    });
    return meterView(row);
  }

  async function findMeter(executor: Executor, scope: Scope, id: string): Promise<MeterView> {
    const row = await repo.findRowById(executor, 'meters', scope, id);
    if (!row) throw notFound('meter', { id });
    return meterView(row);
  }

  return {
    insertMeter,
    findMeter,

    /** 400 on any aggregation rule, and for CEL expressions (not supported yet). */
    async createMeter(scope: Scope, input: CreateMeterInput): Promise<MeterView> {
      return withTransaction(db, (tx) => insertMeter(tx, scope, input));
    },

    async getMeter(scope: Scope, id: string): Promise<MeterView> {
      return findMeter(db, scope, id);
    },

    /** Meters by id, for expansion; unknown ids are simply absent. */
    async metersByIds(executor: Executor, scope: Scope, ids: string[]): Promise<Map<string, MeterView>> {
      const rows = await repo.findRowsByIds(executor, 'meters', scope, ids);
      return new Map(rows.map((row) => [row.id, meterView(row)]));
    },

    async searchMeters(scope: Scope, search: MeterSearch) {
      checkTimeRange(search);
      const { limit, offset } = pageOf(search);
      const conditions = [];
      if (search.meter_ids) conditions.push(repo.inList('id', search.meter_ids));
      if (search.event_name) conditions.push(repo.equals('event_name', search.event_name));
      const { rows, total } = await repo.listRows(
        db,
        'meters',
        scope,
        { ...search, limit, offset, conditions },
        METER_FIELDS,
        'meter',
      );
      return { items: rows.map(meterView), pagination: { total, limit, offset } };
    },

    /** The reference's update: only filters, merged (union of values per key) into the existing ones. */
    async updateMeterFilters(scope: Scope, id: string, filters: MeterFilter[]): Promise<MeterView> {
      if (!filters || filters.length === 0) throw validation('filters must not be empty');
      const incoming = checkFilters(filters);
      return withTransaction(db, async (tx) => mergeFilters(tx, scope, id, incoming));
    },

    mergeFilters: (tx: Tx, scope: Scope, id: string, filters: MeterFilter[]) =>
      mergeFilters(tx, scope, id, checkFilters(filters)),

    /** Archives the meter; refused while a live feature or price uses it. */
    async deleteMeter(scope: Scope, id: string): Promise<void> {
      await withTransaction(db, async (tx) => {
        const row = await repo.findRowById(tx, 'meters', scope, id, { forUpdate: true });
        if (!row) throw notFound('meter', { id });
        const features = await repo.findRowsByColumn(tx, 'features', scope, 'meter_id', [id]);
        const prices = await repo.findRowsByColumn(tx, 'prices', scope, 'meter_id', [id]);
        if (features.length > 0 || prices.length > 0) {
          throw invalidOperation('meter is used by a feature or price; delete those first', {
            feature_ids: features.map((f) => f.id),
            price_ids: prices.map((p) => p.id),
          });
        }
        await repo.updateRowById(tx, 'meters', scope, id, { status: 'archived', updated_at: clock.now() });
      });
    },
  };

  async function mergeFilters(tx: Tx, scope: Scope, id: string, incoming: MeterFilter[]): Promise<MeterView> {
    const row = await repo.findRowById(tx, 'meters', scope, id, { forUpdate: true });
    if (!row) throw notFound('meter', { id });
    const merged = new Map<string, string[]>();
    for (const filter of [...(row.filters ?? []), ...incoming]) {
      const values = merged.get(filter.key) ?? [];
      for (const value of filter.values) if (!values.includes(value)) values.push(value);
      merged.set(filter.key, values);
    }
    const updated = await repo.updateRowById(tx, 'meters', scope, id, {
      filters: JSON.stringify([...merged].map(([key, values]) => ({ key, values }))),
      updated_at: clock.now(),
    });
    return meterView(updated);
  }
}

export type MetersService = ReturnType<typeof createMetersService>;
