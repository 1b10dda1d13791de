import type { Selectable } from 'kysely';
import { type Tx, withTransaction } from '../../platform/db/database.ts';
import type { AddonAssociationsTable } from '../../platform/db/schema.ts';
import { alreadyExists, invalidOperation, notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { newId } from '../../platform/ids.ts';
import * as repo from './subscriptions.repo.ts';
import {
  type AttachAddonInput,
  oneOf,
  parseTime,
  type SubscriptionInternals,
  subscriptionView,
} from './subscriptions.service.ts';
import { listLiveBy } from '../../platform/db/scoped.ts';

export const ADDON_CADENCES = ['onetime', 'recurring'] as const;
/** Subscriptions an addon may be attached to or removed from. */
const ATTACHABLE_STATUSES = ['active', 'trialing', 'draft'];

export type AddonAssociationRow = Selectable<AddonAssociationsTable>;

export interface AddonAssociationView {
  id: string;
  entity_type: string;
  entity_id: string;
  addon_id: string;
  addon_status: string;
  start_date: string;
  end_date?: string;
  cancelled_at?: string;
  cancellation_reason: string;
  metadata: Record<string, unknown>;
  status: string;
  tenant_id: string;
  environment_id: string;
  created_at: string;
  updated_at: string;
  created_by: string;
  updated_by: string;
}

export function addonAssociationView(row: AddonAssociationRow): AddonAssociationView {
  return {
    id: row.id,
    entity_type: row.entity_type,
    entity_id: row.entity_id,
    addon_id: row.addon_id,
    addon_status: row.addon_status,
    start_date: row.start_date.toISOString(),
    ...(row.end_date ? { end_date: row.end_date.toISOString() } : {}),
    ...(row.cancelled_at ? { cancelled_at: row.cancelled_at.toISOString() } : {}),
    cancellation_reason: row.cancellation_reason,
    metadata: row.metadata ?? {},
    status: row.status,
    tenant_id: row.tenant_id,
    environment_id: row.environment_id,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    created_by: row.created_by,
    updated_by: row.updated_by,
  };
}

export interface RemoveAddonInput {
  addon_association_id: string;
  effective_date?: string | undefined;
  proration_behavior?: string | undefined;
  reason?: string | undefined;
}

/**
 * Addons on subscriptions (reference §5.5): an association per attachment; the addon's prices in the subscription's
 * currency and billing period (and its one-time prices) become line items with `entity_type: addon`; its
 * entitlements count in the entitlement aggregation while the association is in effect.
 */
export function createAddonUseCases(internals: SubscriptionInternals) {
  const { db, clock, emit, loadForUpdate, insertPriceLineItems } = internals;

  async function attachInTransaction(
    tx: Tx,
    scope: Scope,
    subscription: repo.SubscriptionRow,
    input: AttachAddonInput,
  ): Promise<AddonAssociationRow> {
    if (!input.addon_id) throw validation('addon_id is required');
    oneOf(input.cadence, ADDON_CADENCES, 'cadence');
    if (input.proration_behavior && input.proration_behavior !== 'none') {
      throw validation('proration_behavior create_prorations is not supported yet', { field: 'proration_behavior' });
    }
    if (!ATTACHABLE_STATUSES.includes(subscription.subscription_status)) {
      throw invalidOperation('addons can only be attached to active, trialing or draft subscriptions', {
        subscription_status: subscription.subscription_status,
      });
    }
    const now = clock.now();
    const start =
      parseTime(input.start_date, 'start_date') ?? new Date(Math.max(now.getTime(), subscription.start_date.getTime()));
    if (start.getTime() < subscription.start_date.getTime()) {
      throw validation('start_date must not be before the subscription starts', {
        subscription_start_date: subscription.start_date.toISOString(),
      });
    }
    if (subscription.end_date && start.getTime() >= subscription.end_date.getTime()) {
      throw validation('start_date must be before the subscription ends', {
        end_date: subscription.end_date.toISOString(),
      });
    }
    const addon = await tx
      .selectFrom('addons')
      .select(['id', 'name', 'type'])
      .where('tenant_id', '=', scope.tenantId)
      .where('environment_id', '=', scope.environmentId)
      .where('id', '=', input.addon_id)
      .where('status', '=', 'published')
      .forShare()
      .executeTakeFirst();
    if (!addon) throw notFound('addon', { addon_id: input.addon_id });
    if (addon.type === 'onetime') {
      const existing = await tx
        .selectFrom('addon_associations')
        .select('id')
        .where('tenant_id', '=', scope.tenantId)
        .where('environment_id', '=', scope.environmentId)
        .where('entity_id', '=', subscription.id)
        .where('addon_id', '=', addon.id)
        .where('addon_status', '=', 'active')
        .executeTakeFirst();
      if (existing) {
        throw alreadyExists('this onetime addon is already attached to the subscription', {
          addon_association_id: existing.id,
        });
      }
    }
    const prices = await tx
      .selectFrom('prices')
      .selectAll()
      .where('tenant_id', '=', scope.tenantId)
      .where('environment_id', '=', scope.environmentId)
      .where('entity_type', '=', 'ADDON')
      .where('entity_id', '=', addon.id)
      .where('status', '=', 'published')
      .where('currency', '=', subscription.currency)
      .where((eb) =>
        eb.or([
          eb('billing_cadence', '=', 'ONETIME'),
          eb.and([
            eb('billing_period', '=', subscription.billing_period),
            eb('billing_period_count', '=', subscription.billing_period_count),
          ]),
        ]),
      )
      .where((eb) => eb.or([eb('end_date', 'is', null), eb('end_date', '>', start)]))
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
    if (prices.length === 0) {
      throw validation("the addon has no prices for the subscription's currency and billing period", {
        addon_id: addon.id,
        currency: subscription.currency,
        billing_period: subscription.billing_period,
      });
    }
    const association = await tx
      .insertInto('addon_associations')
      .values({
        id: newId('addonAssociation'),
        tenant_id: scope.tenantId,
        environment_id: scope.environmentId,
        entity_type: 'subscription',
        entity_id: subscription.id,
        addon_id: addon.id,
        addon_status: 'active',
        start_date: start,
        end_date: subscription.end_date,
        cancellation_reason: '',
        metadata: JSON.stringify(input.metadata ?? {}),
        status: 'published',
        created_at: now,
        updated_at: now,
        created_by: '',
        updated_by: '',
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await insertPriceLineItems(tx, scope, subscription, prices, {
      entityType: 'addon',
      entityId: addon.id,
      name: addon.name,
      start,
      end: subscription.end_date,
      addonAssociationId: association.id,
    });
    return association;
  }

  return {
    /** For createSubscription: attach inside its transaction. */
    attachInTransaction,

    routes: {
      /** POST /subscriptions/addon (200): the association; subscription.updated. */
      async addAddonToSubscription(
        scope: Scope,
        input: AttachAddonInput & { subscription_id: string },
      ): Promise<AddonAssociationView> {
        if (!input.subscription_id) throw validation('subscription_id is required');
        return withTransaction(db, async (tx) => {
          const subscription = await loadForUpdate(tx, scope, input.subscription_id);
          const association = await attachInTransaction(tx, scope, subscription, input);
          const row = await repo.updateSubscriptionById(tx, scope, subscription.id, {
            version: subscription.version + 1,
            updated_at: clock.now(),
          });
          await emit(tx, scope, {
            type: 'subscription.updated',
            subscription: subscriptionView(row, await repo.findLineItems(tx, scope, [row.id])),
          });
          return addonAssociationView(association);
        });
      },

      /**
       * DELETE /subscriptions/addon: the association is cancelled now and ends at `effective_date` (default: the end
       * of the current period), its line items end then. 400 for a cancelled association or a date out of range.
       */
      async removeAddonFromSubscription(scope: Scope, input: RemoveAddonInput): Promise<{ message: string }> {
        if (!input.addon_association_id) throw validation('addon_association_id is required');
        if (input.proration_behavior && input.proration_behavior !== 'none') {
          throw validation('proration_behavior create_prorations is not supported yet', {
            field: 'proration_behavior',
          });
        }
        const effectiveInput = parseTime(input.effective_date, 'effective_date');
        const now = clock.now();
        return withTransaction(db, async (tx) => {
          const association = await tx
            .selectFrom('addon_associations')
            .selectAll()
            .where('tenant_id', '=', scope.tenantId)
            .where('environment_id', '=', scope.environmentId)
            .where('id', '=', input.addon_association_id)
            .where('status', '=', 'published')
            .executeTakeFirst();
          if (!association) throw notFound('addon association', { addon_association_id: input.addon_association_id });
          const subscription = await loadForUpdate(tx, scope, association.entity_id);
          if (association.addon_status !== 'active') {
            throw invalidOperation('the addon association is not active', { addon_status: association.addon_status });
          }
          const effective = effectiveInput ?? subscription.current_period_end;
          if (effective.getTime() < association.start_date.getTime()) {
            throw validation('effective_date must not be before the addon starts', {
              start_date: association.start_date.toISOString(),
            });
          }
          if (association.end_date && effective.getTime() > association.end_date.getTime()) {
            throw validation('the addon ends before effective_date', {
              end_date: association.end_date.toISOString(),
            });
          }
          await tx
            .updateTable('addon_associations')
            .set({
              addon_status: 'cancelled',
              cancelled_at: now,
              end_date: effective,
              cancellation_reason: input.reason ?? '',
              updated_at: now,
            })
            .where('id', '=', association.id)
            .execute();
          await tx
            .updateTable('subscription_line_items')
            .set({ end_date: effective, updated_at: now })
            .where('tenant_id', '=', scope.tenantId)
            .where('environment_id', '=', scope.environmentId)
            .where('addon_association_id', '=', association.id)
            .where('status', '=', 'published')
            .where((eb) => eb.or([eb('end_date', 'is', null), eb('end_date', '>', effective)]))
            .execute();
          const row = await repo.updateSubscriptionById(tx, scope, subscription.id, {
            version: subscription.version + 1,
            updated_at: now,
          });
          await emit(tx, scope, {
            type: 'subscription.updated',
            subscription: subscriptionView(row, await repo.findLineItems(tx, scope, [row.id])),
          });
          return { message: 'addon removed from subscription successfully' };
        });
      },

      /** GET /subscriptions/{id}/addons/associations: every association, oldest first (a bare array). */
      async listAddonAssociations(scope: Scope, subscriptionId: string): Promise<AddonAssociationView[]> {
        const subscription = await repo.findSubscriptionById(db, scope, subscriptionId);
        if (!subscription) throw notFound('subscription', { id: subscriptionId });
        const rows = await listLiveBy(db, 'addon_associations', scope, 'entity_id', subscriptionId);
        return rows.map(addonAssociationView);
      },
    },
  };
}
