import { type RawBuilder, type SelectQueryBuilder, sql } from 'kysely';
import { validation } from '../errors.ts';

/**
 * The `/search` filter/sort DSL of the reference, turned into SQL over an allow-list of columns.
 * Unknown fields are a 400 (never interpolated); values are always bound parameters.
 */
export type FieldType = 'string' | 'number' | 'date' | 'boolean';
export interface FieldSpec {
  column: string;
  type: FieldType;
}
export type FieldMap = Record<string, FieldSpec>;

export interface FilterCondition {
  field: string;
  operator: string;
  data_type: string;
  value: { string?: string; number?: number; boolean?: boolean; date?: string; array?: string[] };
}
export interface SortCondition {
  field: string;
  direction: 'asc' | 'desc';
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function dateValue(raw: string | undefined, field: string): string {
  const time = raw === undefined ? Number.NaN : Date.parse(raw);
  if (Number.isNaN(time)) throw validation(`filter on '${field}' needs value.date as an RFC 3339 timestamp`);
  return new Date(time).toISOString();
}

const DECIMAL_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * A value checked against the column it is compared with, before it reaches SQL: the database would otherwise
 * answer a cast error (a 500) for `created_at in ["nope"]`, or read PostgreSQL's own words ("yesterday", "now")
 * as dates.
 */
function valueForField(value: unknown, spec: FieldSpec, field: string): unknown {
  switch (spec.type) {
    case 'date': {
      const time = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
      if (Number.isNaN(time)) throw validation(`filter on '${field}' needs an RFC 3339 timestamp, got '${value}'`);
      return new Date(time).toISOString();
    }
    case 'number':
      if (typeof value !== 'string' || !DECIMAL_TEXT.test(value)) {
        throw validation(`filter on '${field}' needs a number, got '${value}'`);
      }
      return value;
    case 'boolean':
      if (value === true || value === 'true') return true;
      if (value === false || value === 'false') return false;
      throw validation(`filter on '${field}' needs true or false, got '${value}'`);
    default:
      return typeof value === 'string' ? value : String(value);
  }
}

function scalarOf(condition: FilterCondition, spec: FieldSpec): unknown {
  const { value, data_type: dataType, field } = condition;
  switch (dataType) {
    case 'string':
      if (value.string === undefined) throw validation(`filter on '${field}' needs value.string`);
      return value.string;
    case 'number':
      if (value.number === undefined) throw validation(`filter on '${field}' needs value.number`);
      return String(value.number);
    case 'date':
      return dateValue(value.date, field);
    case 'boolean':
      if (value.boolean === undefined) throw validation(`filter on '${field}' needs value.boolean`);
      return value.boolean;
    default:
      throw validation(`filter on '${field}': data_type '${dataType}' does not fit a ${spec.type} field`);
  }
}

function castFor(spec: FieldSpec): RawBuilder<unknown> {
  switch (spec.type) {
    case 'number':
      return sql`numeric`;
    case 'date':
      return sql`timestamptz`;
    case 'boolean':
      return sql`boolean`;
    default:
      return sql`text`;
  }
}

export function conditionToSql(condition: FilterCondition, fields: FieldMap, entity: string): RawBuilder<boolean> {
  const spec = fields[condition.field];
  if (!spec) throw validation(`unknown field name '${condition.field}' in ${entity} query`);
  const column = sql.ref(spec.column);
  const cast = castFor(spec);
  const op = condition.operator;
  if (op === 'in' || op === 'not_in') {
    const values = condition.value.array;
    if (!values) throw validation(`filter '${op}' on '${condition.field}' needs value.array`);
    if (values.length === 0) return op === 'in' ? sql<boolean>`false` : sql<boolean>`true`;
    const list = sql.join(values.map((v) => sql`cast(${valueForField(v, spec, condition.field)} as ${cast})`));
    return op === 'in' ? sql<boolean>`${column} in (${list})` : sql<boolean>`${column} not in (${list})`;
  }
  if (op === 'contains' || op === 'not_contains') {
    const text = condition.value.string ?? condition.value.array?.[0];
    if (text === undefined) throw validation(`filter '${op}' on '${condition.field}' needs value.string`);
    const pattern = `%${escapeLike(text)}%`;
    return op === 'contains'
      ? sql<boolean>`cast(${column} as text) ilike ${pattern}`
      : sql<boolean>`cast(${column} as text) not ilike ${pattern}`;
  }
  const comparators: Record<string, RawBuilder<unknown>> = {
    eq: sql`=`,
    gt: sql`>`,
    gte: sql`>=`,
    lt: sql`<`,
    lte: sql`<=`,
    before: sql`<`,
    after: sql`>`,
  };
  const comparator = comparators[op];
  if (!comparator) throw validation(`unknown operator '${op}'`);
  if ((op === 'before' || op === 'after') && spec.type !== 'date') {
    throw validation(`operator '${op}' needs a date field; '${condition.field}' is ${spec.type}`);
  }
  if (condition.data_type === 'array') {
    throw validation(`operator '${op}' does not take an array value`);
  }
  const value = valueForField(scalarOf(condition, spec), spec, condition.field);
  return sql<boolean>`${column} ${comparator} cast(${value} as ${cast})`;
}

/** Applies every filter condition (AND). */
export function applyFilters<DB, TB extends keyof DB, O>(
  qb: SelectQueryBuilder<DB, TB, O>,
  filters: FilterCondition[] | undefined,
  fields: FieldMap,
  entity: string,
): SelectQueryBuilder<DB, TB, O> {
  let query = qb;
  for (const condition of filters ?? []) query = query.where(conditionToSql(condition, fields, entity));
  return query;
}

/** User sorts first, then the default `created_at` in the requested order, then id for a stable page order. */
export function applySort<DB, TB extends keyof DB, O>(
  qb: SelectQueryBuilder<DB, TB, O>,
  sort: SortCondition[] | string | undefined,
  order: 'asc' | 'desc' | undefined,
  fields: FieldMap,
  entity: string,
): SelectQueryBuilder<DB, TB, O> {
  let query = qb;
  const direction = order ?? 'desc';
  const conditions: SortCondition[] =
    typeof sort === 'string' ? [{ field: sort, direction }] : Array.isArray(sort) ? sort : [];
  for (const condition of conditions) {
    const spec = fields[condition.field];
    if (!spec) throw validation(`unknown sort field '${condition.field}' in ${entity} query`);
    query = query.orderBy(sql.ref(spec.column), condition.direction === 'asc' ? 'asc' : 'desc');
  }
  const createdAt = fields.created_at?.column ?? 'created_at';
  const id = fields.id?.column ?? 'id';
  return query.orderBy(sql.ref(createdAt), direction).orderBy(sql.ref(id), direction);
}

export interface PageRequest {
  limit?: number | undefined;
  offset?: number | undefined;
}
export interface Page<T> {
  items: T[];
  pagination: { total: number; limit: number; offset: number };
}

export function pageOf(request: PageRequest): { limit: number; offset: number } {
  return { limit: request.limit ?? 50, offset: request.offset ?? 0 };
}

/** Parses `expand` ("a,b.c") against an entity's allow-list. */
export function parseExpand(expand: string | undefined, allowed: readonly string[]): Set<string> {
  const fields = new Set<string>();
  for (const raw of (expand ?? '').split(',')) {
    const field = raw.trim();
    if (!field) continue;
    if (!allowed.includes(field)) {
      throw validation(`Field is not allowed to be expanded: '${field}'`, { allowed: [...allowed] });
    }
    fields.add(field);
  }
  return fields;
}
