import { type Executor, type Tx, withTransaction } from '../../platform/db/database.ts';
import { findLiveById } from '../../platform/db/scoped.ts';
import {
  applyFilters,
  applySort,
  type FieldMap,
  type FilterCondition,
  pageOf,
  parseExpand,
  type SortCondition,
} from '../../platform/db/query.ts';
import { invalidOperation, notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { dec, toWire } from '../../platform/money.ts';
import * as repo from './subscriptions.repo.ts';
import {
  type LineItemView,
  lineItemView,
  parseTime,
  type SubscriptionInternals,
  subscriptionView,
} from './subscriptions.service.ts';

export interface CreateLineItemInput {
  price_id?: string | undefined;
  quantity?: number | undefined;
  display_name?: string | undefined;
  start_date?: string | undefined;
  end_date?: string | undefined;
  metadata?: Record<string, string> | undefined;
}

export interface UpdateLineItemInput {
  metadata?: Record<string, string> | undefined;
  effective_from?: string | undefined;
  amount?: string | undefined;
  billing_model?: string | undefined;
  tier_mode?: string | undefined;
  tiers?:
    Array<{ up_to?: number | null | undefined; unit_amount: string; flat_amount?: string | undefined }> | undefined;
  transform_quantity?: { divide_by: number; round?: string | undefined } | undefined;
}

export interface DeleteLineItemInput {
  effective_from?: string | undefined;
  proration_behavior?: string | undefined;
}

export interface LineItemSearch {
  limit?: number | undefined;
  offset?: number | undefined;
  status?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
  sort?: SortCondition[] | string | undefined;
  filters?: FilterCondition[] | undefined;
  expand?: string | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
  active_filter?: boolean | undefined;
  subscription_line_item_ids?: string[] | undefined;
  subscription_ids?: string[] | undefined;
  customer_ids?: string[] | undefined;
  price_ids?: string[] | undefined;
  meter_ids?: string[] | undefined;
  entity_ids?: string[] | undefined;
  entity_type?: string | undefined;
  addon_association_ids?: string[] | undefined;
  currencies?: string[] | undefined;
  billing_periods?: string[] | undefined;
}

const LINE_ITEM_FIELDS: FieldMap = {
  id: { column: 'id', type: 'string' },
  subscription_id: { column: 'subscription_id', type: 'string' },
  customer_id: { column: 'customer_id', type: 'string' },
  entity_type: { column: 'entity_type', type: 'string' },
  entity_id: { column: 'entity_id', type: 'string' },
  price_id: { column: 'price_id', type: 'string' },
  price_type: { column: 'price_type', type: 'string' },
  meter_id: { column: 'meter_id', type: 'string' },
  display_name: { column: 'display_name', type: 'string' },
  currency: { column: 'currency', type: 'string' },
  billing_period: { column: 'billing_period', type: 'string' },
  invoice_cadence: { column: 'invoice_cadence', type: 'string' },
  start_date: { column: 'start_date', type: 'date' },
  end_date: { column: 'end_date', type: 'date' },
  status: { column: 'status', type: 'string' },
  created_at: { column: 'created_at', type: 'date' },
  updated_at: { column: 'updated_at', type: 'date' },
};

const PRICE_ENTITY_TO_LINE_ITEM = { PLAN: 'plan', ADDON: 'addon', SUBSCRIPTION: 'subscription' } as const;
const EDITABLE_STATUSES = ['active', 'trialing', 'draft', 'paused'];

/** Line items of a subscription: add one for an existing price, edit metadata, end one, search. */
export function createLineItemUseCases(internals: SubscriptionInternals) {
  const { db, clock, emit, loadForUpdate, insertPriceLineItems, repriceCopy } = internals;

  async function loadLineItem(tx: Executor, scope: Scope, id: string) {
    const row = await findLiveById(tx, 'subscription_line_items', scope, id);
    if (!row) throw notFound('subscription line item', { id });
    return row;
  }

  async function touchSubscription(tx: Tx, scope: Scope, id: string) {
    const current = await loadForUpdate(tx, scope, id);
    if (!EDITABLE_STATUSES.includes(current.subscription_status)) {
      throw invalidOperation('the line items of a cancelled subscription cannot change', {
        subscription_status: current.subscription_status,
      });
    }
    return current;
  }

  return {
    /**
     * POST /subscriptions/{id}/lineitems (201): a line item for an existing price of the subscription's plan, of an
     * addon, or scoped to this subscription, in the subscription's currency. `price` (an inline new price) is refused.
     */
    async createSubscriptionLineItem(scope: Scope, id: string, input: CreateLineItemInput): Promise<LineItemView> {
      if (!input.price_id) throw validation('price_id is required');
      if (input.quantity !== undefined && (!Number.isFinite(input.quantity) || input.quantity < 0)) {
        throw validation('quantity must not be negative');
      }
      const start = parseTime(input.start_date, 'start_date');
      const end = parseTime(input.end_date, 'end_date');
      const now = clock.now();
      return withTransaction(db, async (tx) => {
        const subscription = await loadForUpdate(tx, scope, id);
        if (!EDITABLE_STATUSES.includes(subscription.subscription_status)) {
          throw invalidOperation('line items cannot be added to a cancelled subscription', {
            subscription_status: subscription.subscription_status,
          });
        }
        const price = await tx
          .selectFrom('prices')
          .selectAll()
          .where('tenant_id', '=', scope.tenantId)
          .where('environment_id', '=', scope.environmentId)
          .where('id', '=', input.price_id ?? '')
          .where('status', '=', 'published')
          .executeTakeFirst();
        if (!price) throw notFound('price', { price_id: input.price_id });
        const entityType = PRICE_ENTITY_TO_LINE_ITEM[price.entity_type as keyof typeof PRICE_ENTITY_TO_LINE_ITEM];
        if (!entityType) throw validation('the price belongs to neither a plan, an addon nor a subscription');
        if (entityType === 'subscription' && price.entity_id !== subscription.id) {
          throw validation('the price is scoped to another subscription', { price_id: price.id });
        }
        if (price.currency !== subscription.currency) {
          throw validation("the price's currency differs from the subscription's", {
            price_currency: price.currency,
            currency: subscription.currency,
          });
        }
        const from = start ?? new Date(Math.max(now.getTime(), subscription.start_date.getTime()));
        if (from.getTime() < subscription.start_date.getTime()) {
          throw validation('start_date must not be before the subscription starts');
        }
        const until = end ?? subscription.end_date;
        if (until && until.getTime() <= from.getTime()) throw validation('end_date must be after start_date');
        if (subscription.end_date && until && until.getTime() > subscription.end_date.getTime()) {
          throw validation('end_date must not be after the subscription ends');
        }
        let name = '';
        if (entityType === 'plan' || entityType === 'addon') {
          const owner = await tx
            .selectFrom(entityType === 'plan' ? 'plans' : 'addons')
            .select('name')
            .where('tenant_id', '=', scope.tenantId)
            .where('environment_id', '=', scope.environmentId)
            .where('id', '=', price.entity_id)
            .executeTakeFirst();
          name = owner?.name ?? '';
        }
        const [row] = await insertPriceLineItems(tx, scope, subscription, [price], {
          entityType,
          entityId: price.entity_id,
          name,
          start: from,
          end: until ?? null,
          ...(input.quantity !== undefined ? { quantity: toWire(dec(input.quantity)) } : {}),
          ...(input.display_name ? { displayName: input.display_name } : {}),
          ...(input.metadata ? { metadata: input.metadata } : {}),
        });
        const updated = await repo.updateSubscriptionById(tx, scope, subscription.id, {
          version: subscription.version + 1,
          updated_at: now,
        });
        await emit(tx, scope, {
          type: 'subscription.updated',
          subscription: subscriptionView(updated, await repo.findLineItems(tx, scope, [id])),
        });
        return lineItemView(row!);
      });
    },

    /**
     * PUT /subscriptions/lineitems/{id}. Metadata alone is edited in place. A price override (`amount`,
     * `billing_model`, `tier_mode`, `tiers`, `transform_quantity`) ends the line item at `effective_from` (default
     * now) and answers a new line item from then on a SUBSCRIPTION-scoped copy of its price with the override (same
     * quantity, owner and end; `metadata` for the new one). subscription.updated for an override.
     */
    async updateSubscriptionLineItem(scope: Scope, id: string, input: UpdateLineItemInput): Promise<LineItemView> {
      const now = clock.now();
      const repriced =
        input.amount !== undefined ||
        input.billing_model !== undefined ||
        input.tier_mode !== undefined ||
        input.tiers !== undefined ||
        input.transform_quantity !== undefined;
      const effective = parseTime(input.effective_from, 'effective_from');
      if (effective && !repriced) throw validation('effective_from only applies to a price override');
      return withTransaction(db, async (tx) => {
        const current = await loadLineItem(tx, scope, id);
        const subscription = await touchSubscription(tx, scope, current.subscription_id);
        if (!repriced) {
          if (input.metadata === undefined) return lineItemView(current);
          const row = await tx
            .updateTable('subscription_line_items')
            .set({ metadata: JSON.stringify(input.metadata), updated_at: now })
            .where('id', '=', id)
            .returningAll()
            .executeTakeFirstOrThrow();
          return lineItemView(row);
        }
        const from = effective ?? now;
        if (current.end_date && current.end_date.getTime() <= now.getTime()) {
          throw invalidOperation('the line item has already ended', { end_date: current.end_date.toISOString() });
        }
        if (from.getTime() < current.start_date.getTime()) {
          throw validation('effective_from must not be before the line item starts', {
            start_date: current.start_date.toISOString(),
          });
        }
        if (current.end_date && from.getTime() >= current.end_date.getTime()) {
          throw validation('the line item ends before effective_from', { end_date: current.end_date.toISOString() });
        }
        const price = await tx
          .selectFrom('prices')
          .selectAll()
          .where('tenant_id', '=', scope.tenantId)
          .where('environment_id', '=', scope.environmentId)
          .where('id', '=', current.price_id)
          .executeTakeFirstOrThrow();
        const copy = await repriceCopy(
          tx,
          scope,
          subscription,
          price,
          {
            amount: input.amount,
            billing_model: input.billing_model,
            tier_mode: input.tier_mode,
            tiers: input.tiers,
            transform_quantity: input.transform_quantity,
          },
          from,
        );
        await tx
          .updateTable('subscription_line_items')
          .set({ end_date: from, updated_at: now })
          .where('id', '=', id)
          .execute();
        const [row] = await insertPriceLineItems(tx, scope, subscription, [copy], {
          entityType: current.entity_type as 'plan' | 'addon' | 'subscription',
          entityId: current.entity_id,
          name: current.plan_display_name,
          start: from,
          end: current.end_date,
          quantity: current.quantity,
          displayName: current.display_name,
          metadata: input.metadata ?? current.metadata ?? {},
          ...(current.addon_association_id ? { addonAssociationId: current.addon_association_id } : {}),
        });
        const updated = await repo.updateSubscriptionById(tx, scope, subscription.id, {
          version: subscription.version + 1,
          updated_at: now,
        });
        await emit(tx, scope, {
          type: 'subscription.updated',
          subscription: subscriptionView(updated, await repo.findLineItems(tx, scope, [subscription.id])),
        });
        return lineItemView(row!);
      });
    },

    /**
     * DELETE /subscriptions/lineitems/{id}: the line item ends at `effective_from` (default now), not before it
     * starts; answers the ended line item. subscription.updated.
     */
    async deleteSubscriptionLineItem(scope: Scope, id: string, input: DeleteLineItemInput): Promise<LineItemView> {
      if (input.proration_behavior && input.proration_behavior !== 'none') {
        throw validation('proration_behavior create_prorations is not supported yet', { field: 'proration_behavior' });
      }
      const now = clock.now();
      const effective = parseTime(input.effective_from, 'effective_from') ?? now;
      return withTransaction(db, async (tx) => {
        const current = await loadLineItem(tx, scope, id);
        const subscription = await touchSubscription(tx, scope, current.subscription_id);
        if (current.end_date && current.end_date.getTime() <= now.getTime()) {
          throw invalidOperation('the line item has already ended', { end_date: current.end_date.toISOString() });
        }
        if (effective.getTime() < current.start_date.getTime()) {
          throw validation('effective_from must not be before the line item starts', {
            start_date: current.start_date.toISOString(),
          });
        }
        if (current.end_date && effective.getTime() > current.end_date.getTime()) {
          throw validation('the line item ends before effective_from', { end_date: current.end_date.toISOString() });
        }
        const row = await tx
          .updateTable('subscription_line_items')
          .set({ end_date: effective, updated_at: now })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
        const updated = await repo.updateSubscriptionById(tx, scope, subscription.id, {
          version: subscription.version + 1,
          updated_at: now,
        });
        await emit(tx, scope, {
          type: 'subscription.updated',
          subscription: subscriptionView(updated, await repo.findLineItems(tx, scope, [subscription.id])),
        });
        return lineItemView(row);
      });
    },

    /** POST /subscriptions/lineitems/search: `active_filter` (default true) keeps line items not ended now. */
    async searchSubscriptionLineItems(scope: Scope, search: LineItemSearch) {
      parseExpand(search.expand, []);
      const { limit, offset } = pageOf(search);
      const now = clock.now();
      let query = db
        .selectFrom('subscription_line_items')
        .where('tenant_id', '=', scope.tenantId)
        .where('environment_id', '=', scope.environmentId)
        .where('status', '=', search.status ?? 'published');
      const lists = [
        ['id', search.subscription_line_item_ids],
        ['subscription_id', search.subscription_ids],
        ['customer_id', search.customer_ids],
        ['price_id', search.price_ids],
        ['meter_id', search.meter_ids],
        ['entity_id', search.entity_ids],
        ['addon_association_id', search.addon_association_ids],
        ['billing_period', search.billing_periods],
      ] as const;
      for (const [column, values] of lists) {
        if (values?.length) query = query.where(column, 'in', values);
      }
      if (search.currencies?.length) {
        query = query.where(
          'currency',
          'in',
          search.currencies.map((c) => c.toLowerCase()),
        );
      }
      if (search.entity_type !== undefined) query = query.where('entity_type', '=', search.entity_type);
      if (search.active_filter !== false) {
        query = query.where((eb) => eb.or([eb('end_date', 'is', null), eb('end_date', '>', now)]));
      }
      const startTime = parseTime(search.start_time, 'start_time');
      const endTime = parseTime(search.end_time, 'end_time');
      if (startTime) query = query.where('created_at', '>=', startTime);
      if (endTime) query = query.where('created_at', '<=', endTime);
      query = applyFilters(query, search.filters, LINE_ITEM_FIELDS, 'subscription line item');
      const [countRow, rows] = await Promise.all([
        query.select((eb) => eb.fn.countAll<string>().as('total')).executeTakeFirstOrThrow(),
        applySort(query.selectAll(), search.sort, search.order, LINE_ITEM_FIELDS, 'subscription line item')
          .limit(limit)
          .offset(offset)
          .execute(),
      ]);
      return { items: rows.map(lineItemView), pagination: { total: Number(countRow.total), limit, offset } };
    },
  };
}
