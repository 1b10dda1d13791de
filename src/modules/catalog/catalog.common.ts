import type { Tx } from '../../platform/db/database.ts';
import { validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { type Money, parseDecimal, toWire } from '../../platform/money.ts';

/** Shared pieces of the catalog services: audit fields of views, input parsing, lookup keys, listeners. */

export type Status = 'published' | 'archived' | 'deleted';

export interface AuditView {
  status: Status;
  tenant_id: string;
  environment_id: string;
  created_at: string;
  updated_at: string;
  created_by: string;
  updated_by: string;
}

export function auditView(row: {
  status: string;
  tenant_id: string;
  environment_id: string;
  created_at: Date;
  updated_at: Date;
  created_by: string;
  updated_by: string;
}): AuditView {
  return {
    status: row.status as Status,
    tenant_id: row.tenant_id,
    environment_id: row.environment_id,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    created_by: row.created_by,
    updated_by: row.updated_by,
  };
}

/** Columns every new catalog row starts with. */
export function newRowBase(scope: Scope, id: string, now: Date) {
  return {
    id,
    tenant_id: scope.tenantId,
    environment_id: scope.environmentId,
    status: 'published',
    created_at: now,
    updated_at: now,
    created_by: '',
    updated_by: '',
  };
}

/** The reference's default lookup key: the name lower-cased, each run of other characters → '_', trimmed of '_'. */
export function lookupKeyFromName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/** A decimal input (string or JSON number); 400 naming the field when it is not a decimal. */
export function decimalField(value: unknown, field: string): Money {
  const parsed = parseDecimal(value);
  if (!parsed) throw validation(`${field} must be a decimal number`, { field });
  return parsed;
}

export function optionalDecimal(value: unknown, field: string): Money | undefined {
  return value === undefined || value === null || value === '' ? undefined : decimalField(value, field);
}

export function nonNegativeDecimal(value: unknown, field: string): Money {
  const parsed = decimalField(value, field);
  if (parsed.isNegative()) throw validation(`${field} must not be negative`, { field });
  return parsed;
}

export function positiveDecimal(value: unknown, field: string): Money {
  const parsed = decimalField(value, field);
  if (!parsed.gt(0)) throw validation(`${field} must be greater than zero`, { field });
  return parsed;
}

export function timeField(value: string | undefined | null, field: string): Date | null {
  if (value === undefined || value === null || value === '') return null;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw validation(`${field} must be an RFC 3339 timestamp`, { field });
  return new Date(ms);
}

export function isoOrUndefined(value: Date | null): string | undefined {
  return value ? value.toISOString() : undefined;
}

export function wireOrUndefined(value: string | null): string | undefined {
  return value === null ? undefined : toWire(value);
}

export function requireText(value: string | undefined, field: string): string {
  const text = (value ?? '').trim();
  if (!text) throw validation(`${field} is required`, { field });
  return text;
}

export function checkTimeRange(search: { start_time?: string | undefined; end_time?: string | undefined }): void {
  for (const field of ['start_time', 'end_time'] as const) {
    const value = search[field];
    if (value !== undefined && Number.isNaN(Date.parse(value))) throw validation(`${field} must be RFC 3339`);
  }
}

/** Something another module does in the same transaction as a catalog change (the webhook outbox). */
export type CatalogListener<E> = (tx: Tx, scope: Scope, event: E) => Promise<void>;

export function listenerSet<E>() {
  const listeners: Array<CatalogListener<E>> = [];
  return {
    add(listener: CatalogListener<E>) {
      listeners.push(listener);
    },
    async emit(tx: Tx, scope: Scope, event: E) {
      for (const listener of listeners) await listener(tx, scope, event);
    },
  };
}

export function deletedMessage(what: string) {
  return { message: `${what} deleted successfully` };
}

/** A comma-separated query-string list ("a,b") as an array; undefined when absent. */
export function splitList(value: string | undefined): string[] | undefined {
  return value === undefined
    ? undefined
    : value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
}
