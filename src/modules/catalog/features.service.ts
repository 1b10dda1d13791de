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
import { alreadyExists, invalidOperation, notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { newId } from '../../platform/ids.ts';
import { toWire } from '../../platform/money.ts';
import {
  auditView,
  type AuditView,
  checkTimeRange,
  decimalField,
  listenerSet,
  lookupKeyFromName,
  newRowBase,
  requireText,
} from './catalog.common.ts';
import * as repo from './catalog.repo.ts';
import type { CreateMeterInput, MeterFilter, MetersService, MeterView } from './meters.service.ts';

export const FEATURE_TYPES = ['metered', 'boolean', 'static', 'config'] as const;
export type FeatureType = (typeof FEATURE_TYPES)[number];

export interface AlertThreshold {
  threshold: string | number;
  condition: 'above' | 'below';
}
export interface AlertSettings {
  alert_enabled?: boolean | undefined;
  critical?: AlertThreshold | undefined;
  warning?: AlertThreshold | undefined;
  info?: AlertThreshold | undefined;
}
export interface ReportingUnit {
  unit_singular?: string | undefined;
  unit_plural?: string | undefined;
  conversion_rate?: number | string | undefined;
}

interface FeatureFields {
  description?: string | undefined;
  metadata?: Record<string, string> | undefined;
  unit_singular?: string | undefined;
  unit_plural?: string | undefined;
  reporting_unit?: ReportingUnit | undefined;
  alert_settings?: AlertSettings | undefined;
  group_id?: string | undefined;
}

export interface CreateFeatureInput extends FeatureFields {
  name: string;
  type: FeatureType;
  lookup_key?: string | undefined;
  meter_id?: string | undefined;
  meter?: CreateMeterInput | undefined;
}

export interface UpdateFeatureInput extends FeatureFields {
  name?: string | undefined;
  filters?: MeterFilter[] | undefined;
}

export interface CloneFeatureInput {
  name?: string | undefined;
  lookup_key?: string | undefined;
  description?: string | undefined;
  metadata?: Record<string, string> | undefined;
}

export interface FeatureView extends AuditView {
  id: string;
  name: string;
  lookup_key: string;
  description: string;
  type: FeatureType;
  meter_id: string;
  meter?: MeterView;
  metadata: Record<string, string>;
  unit_singular: string;
  unit_plural: string;
  reporting_unit?: Record<string, unknown>;
  alert_settings?: Record<string, unknown>;
  group_id: string;
}

export interface FeatureSearch {
  limit?: number | undefined;
  offset?: number | undefined;
  status?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: SortCondition[] | string | undefined;
  filters?: FilterCondition[] | undefined;
  expand?: string | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
  feature_ids?: string[] | undefined;
  lookup_key?: string | undefined;
  lookup_keys?: string[] | undefined;
  meter_ids?: string[] | undefined;
  name_contains?: string | undefined;
}

export type FeatureEvent =
  | { type: 'feature.created'; feature: FeatureView }
  | { type: 'feature.updated'; feature: FeatureView }
  | { type: 'feature.deleted'; feature: FeatureView };

const FEATURE_FIELDS: FieldMap = {
  ...repo.BASE_FIELDS,
  name: { column: 'name', type: 'string' },
  lookup_key: { column: 'lookup_key', type: 'string' },
  description: { column: 'description', type: 'string' },
  type: { column: 'type', type: 'string' },
  meter_id: { column: 'meter_id', type: 'string' },
  unit_singular: { column: 'unit_singular', type: 'string' },
  unit_plural: { column: 'unit_plural', type: 'string' },
  group_id: { column: 'group_id', type: 'string' },
};

const EXPANDABLE = ['meters'] as const;
const LOOKUP_KEY_INDEX = 'features_lookup_key_live';

export function featureView(row: repo.Row<'features'>, meter?: MeterView): FeatureView {
  return {
    id: row.id,
    name: row.name,
    lookup_key: row.lookup_key,
    description: row.description,
    type: row.type as FeatureType,
    meter_id: row.meter_id ?? '',
    ...(meter ? { meter } : {}),
    metadata: row.metadata ?? {},
    unit_singular: row.unit_singular,
    unit_plural: row.unit_plural,
    ...(row.reporting_unit ? { reporting_unit: row.reporting_unit } : {}),
    ...(row.alert_settings ? { alert_settings: row.alert_settings } : {}),
    group_id: row.group_id,
    ...auditView(row),
  };
}

function checkUnits(singular: string | undefined, plural: string | undefined): void {
  if (Boolean(singular) !== Boolean(plural)) {
    throw validation('unit_singular and unit_plural must be given together');
  }
}

function checkReportingUnit(unit: ReportingUnit | undefined): Record<string, unknown> | null {
  if (!unit) return null;
  const out: Record<string, unknown> = {};
  if (unit.unit_singular) out.unit_singular = unit.unit_singular;
  if (unit.unit_plural) out.unit_plural = unit.unit_plural;
  checkUnits(unit.unit_singular, unit.unit_plural);
  if (unit.conversion_rate !== undefined) {
    const rate = decimalField(unit.conversion_rate, 'reporting_unit.conversion_rate');
    if (!rate.gt(0)) throw validation('reporting_unit.conversion_rate must be greater than zero');
    // the reference types this one as a JSON number
    out.conversion_rate = Number(toWire(rate));
  }
  return out;
}

function checkAlertSettings(settings: AlertSettings | undefined): Record<string, unknown> | null {
  if (!settings) return null;
  const out: Record<string, unknown> = { alert_enabled: settings.alert_enabled ?? false };
  for (const level of ['critical', 'warning', 'info'] as const) {
    const threshold = settings[level];
    if (!threshold) continue;
    if (threshold.condition !== 'above' && threshold.condition !== 'below') {
      throw validation(`alert_settings.${level}.condition must be 'above' or 'below'`);
    }
    out[level] = {
      threshold: toWire(decimalField(threshold.threshold, `alert_settings.${level}.threshold`)),
      condition: threshold.condition,
    };
  }
  return out;
}

function lookupKeyConflictOr(error: unknown, lookupKey: string | undefined): unknown {
  if (isUniqueViolation(error, LOOKUP_KEY_INDEX)) {
    return alreadyExists(`a feature with lookup_key '${lookupKey}' already exists`, { lookup_key: lookupKey });
  }
  return error;
}

/** Features: what a plan can grant (metered through a meter, or boolean/static/config). */
export function createFeaturesService(deps: { db: Db; clock: Clock; meters: MetersService }) {
  const { db, clock, meters } = deps;
  const events = listenerSet<FeatureEvent>();

  async function withMeter(executor: Executor, scope: Scope, row: repo.Row<'features'>): Promise<FeatureView> {
    const meter = row.meter_id ? await meters.findMeter(executor, scope, row.meter_id) : undefined;
    return featureView(row, meter);
  }

  async function lockFeature(tx: Tx, scope: Scope, id: string) {
    const row = await repo.findRowById(tx, 'features', scope, id, { forUpdate: true });
    if (!row) throw notFound('feature', { id });
    return row;
  }

  return {
    /** `listener(tx, scope, event)` runs inside the business transaction of every feature change. */
    onEvent(listener: (tx: Tx, scope: Scope, event: FeatureEvent) => Promise<void>) {
      events.add(listener);
    },

    /**
     * 400 on invalid input (metered without a meter, meter on a non-metered feature, units given alone, bad meter
     * rules), 404 when meter_id is unknown, 409 when the lookup key is taken.
     */
    async createFeature(scope: Scope, input: CreateFeatureInput): Promise<FeatureView> {
      const name = requireText(input.name, 'name');
      if (!(FEATURE_TYPES as readonly string[]).includes(input.type)) {
        throw validation(`type must be one of ${FEATURE_TYPES.join(', ')}`);
      }
      const lookupKey = input.lookup_key?.trim() || lookupKeyFromName(name);
      if (!lookupKey) throw validation('lookup_key is required when the name has no letters or digits');
      if (input.type === 'metered') {
        if (!input.meter_id && !input.meter) throw validation('a metered feature needs meter_id or meter');
        if (input.meter_id && input.meter) throw validation('give either meter_id or meter, not both');
      } else if (input.meter_id || input.meter) {
        throw validation('only metered features have a meter');
      }
      checkUnits(input.unit_singular, input.unit_plural);
      const reportingUnit = checkReportingUnit(input.reporting_unit);
      const alertSettings = checkAlertSettings(input.alert_settings);
      try {
        return await withTransaction(db, async (tx) => {
          let meter: MeterView | undefined;
          if (input.meter) meter = await meters.insertMeter(tx, scope, input.meter);
          else if (input.meter_id) meter = await meters.findMeter(tx, scope, input.meter_id);
          const row = await repo.insertRow(tx, 'features', {
            ...newRowBase(scope, newId('feature'), clock.now()),
            name,
            lookup_key: lookupKey,
            description: input.description ?? '',
            type: input.type,
            meter_id: meter?.id ?? null,
            metadata: JSON.stringify(input.metadata ?? {}),
            unit_singular: input.unit_singular ?? '',
            unit_plural: input.unit_plural ?? '',
            reporting_unit: reportingUnit ? JSON.stringify(reportingUnit) : null,
            alert_settings: alertSettings ? JSON.stringify(alertSettings) : null,
            group_id: input.group_id ?? '',
          });
          const view = featureView(row, meter);
          await events.emit(tx, scope, { type: 'feature.created', feature: view });
          return view;
        });
      } catch (error) {
        throw lookupKeyConflictOr(error, lookupKey);
      }
    },

    async getFeature(scope: Scope, id: string): Promise<FeatureView> {
      const row = await repo.findRowById(db, 'features', scope, id);
      if (!row) throw notFound('feature', { id });
      return withMeter(db, scope, row);
    },

    async searchFeatures(scope: Scope, search: FeatureSearch) {
      const expand = parseExpand(search.expand, EXPANDABLE);
      checkTimeRange(search);
      const { limit, offset } = pageOf(search);
      const conditions = [];
      if (search.feature_ids) conditions.push(repo.inList('id', search.feature_ids));
      if (search.lookup_key) conditions.push(repo.equals('lookup_key', search.lookup_key));
      if (search.lookup_keys) conditions.push(repo.inList('lookup_key', search.lookup_keys));
      if (search.meter_ids) conditions.push(repo.inList('meter_id', search.meter_ids));
      if (search.name_contains) {
        const pattern = `%${search.name_contains.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
        conditions.push(sql<boolean>`name ilike ${pattern}`);
      }
      const { rows, total } = await repo.listRows(
        db,
        'features',
        scope,
        { ...search, limit, offset, conditions },
        FEATURE_FIELDS,
        'feature',
      );
      const meterMap = expand.has('meters')
        ? await meters.metersByIds(
            db,
            scope,
            rows.flatMap((r) => (r.meter_id ? [r.meter_id] : [])),
          )
        : new Map<string, MeterView>();
      const items = rows.map((r) => featureView(r, r.meter_id ? meterMap.get(r.meter_id) : undefined));
      return { items, pagination: { total, limit, offset } };
    },

    /** Partial update; `filters` are merged into a metered feature's meter (400 for other types). */
    async updateFeature(scope: Scope, id: string, input: UpdateFeatureInput): Promise<FeatureView> {
      if (input.name !== undefined) requireText(input.name, 'name');
      const reportingUnit = checkReportingUnit(input.reporting_unit);
      const alertSettings = checkAlertSettings(input.alert_settings);
      return withTransaction(db, async (tx) => {
        const current = await lockFeature(tx, scope, id);
        const singular = input.unit_singular ?? current.unit_singular;
        const plural = input.unit_plural ?? current.unit_plural;
        checkUnits(singular, plural);
        if (input.filters !== undefined && input.filters.length > 0) {
          if (current.type !== 'metered' || !current.meter_id) {
            throw validation('filters can only be updated on a metered feature');
          }
          await meters.mergeFilters(tx, scope, current.meter_id, input.filters);
        }
        const row = await repo.updateRowById(tx, 'features', scope, id, {
          ...(input.name !== undefined ? { name: input.name.trim() } : {}),
          ...(input.description !== undefined ? { description: input.description } : {}),
          ...(input.metadata !== undefined ? { metadata: JSON.stringify(input.metadata) } : {}),
          unit_singular: singular,
          unit_plural: plural,
          ...(reportingUnit ? { reporting_unit: JSON.stringify(reportingUnit) } : {}),
          ...(alertSettings ? { alert_settings: JSON.stringify(alertSettings) } : {}),
          ...(input.group_id !== undefined ? { group_id: input.group_id } : {}),
          updated_at: clock.now(),
        });
        const view = await withMeter(tx, scope, row);
        await events.emit(tx, scope, { type: 'feature.updated', feature: view });
        return view;
      });
    },

    /**
     * A copy under a new name and lookup key (both required). A metered feature gets its own copy of the meter, so
     * later filter merges on one feature never change the other's usage.
     */
    async cloneFeature(scope: Scope, id: string, input: CloneFeatureInput): Promise<FeatureView> {
      const name = requireText(input.name, 'name');
      const lookupKey = requireText(input.lookup_key, 'lookup_key');
      try {
        return await withTransaction(db, async (tx) => {
          const source = await repo.findRowById(tx, 'features', scope, id);
          if (!source) throw notFound('feature', { id });
          let meter: MeterView | undefined;
          if (source.meter_id) {
            const original = await meters.findMeter(tx, scope, source.meter_id);
            meter = await meters.insertMeter(tx, scope, {
              name: original.name,
              event_name: original.event_name,
              aggregation: original.aggregation,
              filters: original.filters,
              reset_usage: original.reset_usage,
            });
          }
          const row = await repo.insertRow(tx, 'features', {
            ...newRowBase(scope, newId('feature'), clock.now()),
            name,
            lookup_key: lookupKey,
            description: input.description ?? source.description,
            type: source.type,
            meter_id: meter?.id ?? null,
            metadata: JSON.stringify(input.metadata ?? source.metadata ?? {}),
            unit_singular: source.unit_singular,
            unit_plural: source.unit_plural,
            reporting_unit: source.reporting_unit ? JSON.stringify(source.reporting_unit) : null,
            alert_settings: source.alert_settings ? JSON.stringify(source.alert_settings) : null,
            group_id: source.group_id,
          });
          const view = featureView(row, meter);
          await events.emit(tx, scope, { type: 'feature.created', feature: view });
          return view;
        });
      } catch (error) {
        throw lookupKeyConflictOr(error, lookupKey);
      }
    },

    /** Archives the feature; refused (400 invalid_operation) while a live entitlement grants it. */
    async deleteFeature(scope: Scope, id: string): Promise<void> {
      await withTransaction(db, async (tx) => {
        await lockFeature(tx, scope, id);
        const entitlements = await repo.findRowsByColumn(tx, 'entitlements', scope, 'feature_id', [id]);
        if (entitlements.length > 0) {
          throw invalidOperation('feature is used by entitlements; delete those first', {
            entitlement_ids: entitlements.map((e) => e.id),
          });
        }
        const row = await repo.updateRowById(tx, 'features', scope, id, {
          status: 'archived',
          updated_at: clock.now(),
        });
        await events.emit(tx, scope, { type: 'feature.deleted', feature: await withMeter(tx, scope, row) });
      });
    },
  };
}

export type FeaturesService = ReturnType<typeof createFeaturesService>;
