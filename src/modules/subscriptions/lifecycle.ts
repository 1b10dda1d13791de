import type { Selectable } from 'kysely';
import { withTransaction } from '../../platform/db/database.ts';
import { parseExpand } from '../../platform/db/query.ts';
import { invalidOperation, notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import type { SubscriptionPausesTable } from '../../platform/db/schema.ts';
import { newId } from '../../platform/ids.ts';
import type { CustomerView } from '../customers/customers.service.ts';
import { firstPeriod, type BillingCycle, type SubscriptionBillingPeriod } from './periods.ts';
import * as repo from './subscriptions.repo.ts';
import {
  parseTime,
  type SubscriptionInternals,
  type SubscriptionView,
  subscriptionView,
} from './subscriptions.service.ts';

export const PAUSE_MODES = ['immediate', 'scheduled', 'period_end'] as const;
export const RESUME_MODES = ['immediate', 'scheduled', 'auto'] as const;
const SUBSCRIPTION_STATUSES = ['active', 'paused', 'cancelled', 'incomplete', 'trialing', 'draft'] as const;

export interface UpdateSubscriptionInput {
  cancel_at?: string | null | undefined;
  cancel_at_period_end?: boolean | undefined;
  parent_subscription_id?: string | undefined;
  status?: string | undefined;
}

export interface PauseSubscriptionInput {
  pause_mode: string;
  pause_start?: string | undefined;
  pause_end?: string | undefined;
  pause_days?: number | undefined;
  reason?: string | undefined;
  metadata?: Record<string, string> | undefined;
  dry_run?: boolean | undefined;
}

export interface ResumeSubscriptionInput {
  resume_mode: string;
  metadata?: Record<string, string> | undefined;
  dry_run?: boolean | undefined;
}

type PauseRow = Selectable<SubscriptionPausesTable>;

export interface PauseView {
  id: string;
  subscription_id: string;
  pause_status: string;
  pause_mode: string;
  resume_mode?: string;
  pause_start: string;
  pause_end?: string;
  resumed_at?: string;
  original_period_start: string;
  original_period_end: string;
  reason: string;
  metadata: Record<string, string>;
  status: string;
  tenant_id: string;
  environment_id: string;
  created_at: string;
  updated_at: string;
  created_by: string;
  updated_by: string;
}

export function pauseView(row: PauseRow): PauseView {
  return {
    id: row.id,
    subscription_id: row.subscription_id,
    pause_status: row.pause_status,
    pause_mode: row.pause_mode,
    ...(row.resume_mode ? { resume_mode: row.resume_mode } : {}),
    pause_start: row.pause_start.toISOString(),
    ...(row.pause_end ? { pause_end: row.pause_end.toISOString() } : {}),
    ...(row.resumed_at ? { resumed_at: row.resumed_at.toISOString() } : {}),
    original_period_start: row.original_period_start.toISOString(),
    original_period_end: row.original_period_end.toISOString(),
    reason: row.reason,
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

/** `GET /subscriptions/{id}/v2`: the subscription with optional expands. */
export type SubscriptionViewV2 = SubscriptionView & { customer?: CustomerView };

/**
 * Lifecycle use cases: update (scheduled cancellation), draft → active, pause and resume, the v2 read. Each runs in
 * one transaction with its webhook event.
 */
export function createLifecycleUseCases(internals: SubscriptionInternals) {
  const { db, clock, emit, loadForUpdate } = internals;

  return {
    /**
     * PUT: `cancel_at` schedules (or moves) a cancellation, `cancel_at: null` or `cancel_at_period_end: false`
     * clears one, `cancel_at_period_end: true` schedules it at the end of the current period. `status` may only
     * repeat the current status (transitions have their own endpoints); a non-empty `parent_subscription_id` is
     * refused (only standalone subscriptions). 200 with the subscription; subscription.updated when anything changed.
     */
    async updateSubscription(scope: Scope, id: string, input: UpdateSubscriptionInput): Promise<SubscriptionView> {
      if (input.parent_subscription_id) {
        throw validation('parent_subscription_id is not supported yet (only standalone subscriptions)', {
          field: 'parent_subscription_id',
        });
      }
      if (input.cancel_at && input.cancel_at_period_end === true) {
        throw validation('cancel_at and cancel_at_period_end: true are mutually exclusive');
      }
      const cancelAt = input.cancel_at ? parseTime(input.cancel_at, 'cancel_at') : undefined;
      const now = clock.now();
      if (cancelAt && cancelAt.getTime() <= now.getTime()) throw validation('cancel_at must be in the future');
      return withTransaction(db, async (tx) => {
        const current = await loadForUpdate(tx, scope, id);
        if (input.status !== undefined && input.status !== current.subscription_status) {
          if (!(SUBSCRIPTION_STATUSES as readonly string[]).includes(input.status)) {
            throw validation(`status must be one of ${SUBSCRIPTION_STATUSES.join(', ')}`, { status: input.status });
          }
          throw invalidOperation(
            'subscription status changes through activate, pause, resume and cancel, not through update',
            { from: current.subscription_status, to: input.status },
          );
        }
        const clear = input.cancel_at === null || input.cancel_at_period_end === false;
        const schedule: Date | undefined =
          cancelAt ?? (input.cancel_at_period_end === true ? current.current_period_end : undefined);
        if (!schedule && !clear) return subscriptionView(current, await repo.findLineItems(tx, scope, [id]));
        if (current.subscription_status === 'cancelled') {
          throw invalidOperation('subscription is already cancelled', { id });
        }
        const baseEnd = current.cancel_at ? current.end_date_before_cancel : current.end_date;
        let changes;
        if (schedule) {
          if (baseEnd && schedule.getTime() > baseEnd.getTime()) {
            throw validation('the subscription ends before that date', { end_date: baseEnd.toISOString() });
          }
          changes = {
            cancel_at: schedule,
            cancel_at_period_end: input.cancel_at_period_end === true,
            end_date: schedule,
            end_date_before_cancel: baseEnd,
          };
        } else {
          if (!current.cancel_at) return subscriptionView(current, await repo.findLineItems(tx, scope, [id]));
          changes = { cancel_at: null, cancel_at_period_end: false, end_date: baseEnd, end_date_before_cancel: null };
        }
        const row = await repo.updateSubscriptionById(tx, scope, id, {
          ...changes,
          version: current.version + 1,
          updated_at: now,
        });
        // Line items end with the subscription: those the old end date ended (or open ones) follow the new one.
        await tx
          .updateTable('subscription_line_items')
          .set({ end_date: row.end_date, updated_at: now })
          .where('tenant_id', '=', scope.tenantId)
          .where('environment_id', '=', scope.environmentId)
          .where('subscription_id', '=', id)
          .where('status', '=', 'published')
          .where((eb) =>
            current.end_date
              ? eb.or([eb('end_date', 'is', null), eb('end_date', '=', current.end_date)])
              : eb('end_date', 'is', null),
          )
          .execute();
        const view = subscriptionView(row, await repo.findLineItems(tx, scope, [id]));
        await emit(tx, scope, { type: 'subscription.updated', subscription: view });
        return view;
      });
    },

    /**
     * Draft → active (or trialing, keeping the trial's length) from `start_date`: the first period is recomputed
     * from the new start; the line items and addon associations all start then. 400 when the subscription is not a draft.
     */
    async activateSubscription(scope: Scope, id: string, input: { start_date: string }): Promise<SubscriptionView> {
      const start = parseTime(input.start_date, 'start_date');
      if (!start) throw validation('start_date is required');
      const now = clock.now();
      return withTransaction(db, async (tx) => {
        const current = await loadForUpdate(tx, scope, id);
        if (current.subscription_status !== 'draft') {
          throw invalidOperation('only draft subscriptions can be activated', {
            subscription_status: current.subscription_status,
          });
        }
        if (current.end_date && current.end_date.getTime() <= start.getTime()) {
          throw validation('start_date must be before the end_date', { end_date: current.end_date.toISOString() });
        }
        const period = firstPeriod(
          start,
          current.billing_period as SubscriptionBillingPeriod,
          current.billing_period_count,
          current.billing_cycle as BillingCycle,
        );
        const trialMs =
          current.trial_start && current.trial_end ? current.trial_end.getTime() - current.trial_start.getTime() : 0;
        const row = await repo.updateSubscriptionById(tx, scope, id, {
          subscription_status: trialMs > 0 ? 'trialing' : 'active',
          start_date: start,
          billing_anchor: period.billingAnchor,
          current_period_start: period.periodStart,
          current_period_end: period.periodEnd,
          trial_start: trialMs > 0 ? start : null,
          trial_end: trialMs > 0 ? new Date(start.getTime() + trialMs) : null,
          version: current.version + 1,
          updated_at: now,
        });
        await tx
          .updateTable('subscription_line_items')
          .set({ start_date: start, updated_at: now })
          .where('tenant_id', '=', scope.tenantId)
          .where('environment_id', '=', scope.environmentId)
          .where('subscription_id', '=', id)
          .where('status', '=', 'published')
          .execute();
        await internals.moveGrantStarts(tx, scope, id, current.start_date, start);
        await tx
          .updateTable('addon_associations')
          .set({ start_date: start, updated_at: now })
          .where('tenant_id', '=', scope.tenantId)
          .where('environment_id', '=', scope.environmentId)
          .where('entity_id', '=', id)
          .execute();
        const view = subscriptionView(row, await repo.findLineItems(tx, scope, [id]));
        await emit(tx, scope, { type: 'subscription.activated', subscription: view });
        return view;
      });
    },

    /** `expand`: `subscription_line_items`, `customer`. */
    async getSubscriptionV2(scope: Scope, id: string, expand?: string): Promise<SubscriptionViewV2> {
      const expanded = parseExpand(expand, ['subscription_line_items', 'customer']);
      return withTransaction(db, async (tx) => {
        const row = await repo.findSubscriptionById(tx, scope, id);
        if (!row) throw notFound('subscription', { id });
        const view: SubscriptionViewV2 = subscriptionView(
          row,
          expanded.has('subscription_line_items') ? await repo.findLineItems(tx, scope, [id]) : undefined,
        );
        if (expanded.has('customer')) {
          const customer = await internals.customerView(tx, scope, row.customer_id);
          if (customer) view.customer = customer;
        }
        return view;
      });
    },

    /**
     * Pauses an active subscription now (`pause_mode: immediate`): status `paused`, `pause_status: active`, a
     * pause record. Scheduled pauses, automatic resume (`pause_end`, `pause_days`) need the period job and are
     * refused (400). `dry_run` validates and answers the pause without writing.
     */
    async pauseSubscription(scope: Scope, id: string, input: PauseSubscriptionInput): Promise<PauseView> {
      if (!(PAUSE_MODES as readonly string[]).includes(input.pause_mode)) {
        throw validation(`pause_mode must be one of ${PAUSE_MODES.join(', ')}`, { pause_mode: input.pause_mode });
      }
      if (input.pause_mode !== 'immediate') {
        throw validation(`pause_mode ${input.pause_mode} is not supported yet (only immediate)`, {
          field: 'pause_mode',
        });
      }
      for (const field of ['pause_start', 'pause_end', 'pause_days'] as const) {
        if (input[field] !== undefined && input[field] !== null) {
          throw validation(`${field} is not supported yet: pauses last until POST /subscriptions/{id}/resume`, {
            field,
          });
        }
      }
      const now = clock.now();
      return withTransaction(db, async (tx) => {
        const current = await loadForUpdate(tx, scope, id);
        if (current.subscription_status !== 'active') {
          throw invalidOperation('only active subscriptions can be paused', {
            subscription_status: current.subscription_status,
          });
        }
        if (current.cancel_at) throw invalidOperation('subscription is scheduled to cancel', { id });
        const pause = {
          id: newId('subscriptionPause'),
          tenant_id: scope.tenantId,
          environment_id: scope.environmentId,
          subscription_id: id,
          pause_status: 'active',
          pause_mode: 'immediate',
          resume_mode: null,
          pause_start: now,
          pause_end: null,
          resumed_at: null,
          original_period_start: current.current_period_start,
          original_period_end: current.current_period_end,
          reason: input.reason ?? '',
          metadata: input.metadata ?? {},
          status: 'published',
          created_at: now,
          updated_at: now,
          created_by: '',
          updated_by: '',
        };
        if (input.dry_run) return pauseView(pause);
        const row = await tx
          .insertInto('subscription_pauses')
          .values({ ...pause, metadata: JSON.stringify(pause.metadata) })
          .returningAll()
          .executeTakeFirstOrThrow();
        const updated = await repo.updateSubscriptionById(tx, scope, id, {
          subscription_status: 'paused',
          pause_status: 'active',
          active_pause_id: row.id,
          version: current.version + 1,
          updated_at: now,
        });
        await emit(tx, scope, { type: 'subscription.paused', subscription: subscriptionView(updated) });
        return pauseView(row);
      });
    },

    /**
     * Resumes a paused subscription now (`resume_mode: immediate`): status `active`, `pause_status: none`, the
     * pause `completed` with `resumed_at`. Periods are not shifted (the billing job skips paused subscriptions).
     */
    async resumeSubscription(scope: Scope, id: string, input: ResumeSubscriptionInput): Promise<PauseView> {
      if (!(RESUME_MODES as readonly string[]).includes(input.resume_mode)) {
        throw validation(`resume_mode must be one of ${RESUME_MODES.join(', ')}`, { resume_mode: input.resume_mode });
      }
      if (input.resume_mode !== 'immediate') {
        throw validation(`resume_mode ${input.resume_mode} is not supported yet (only immediate)`, {
          field: 'resume_mode',
        });
      }
      const now = clock.now();
      return withTransaction(db, async (tx) => {
        const current = await loadForUpdate(tx, scope, id);
        if (current.subscription_status !== 'paused' || !current.active_pause_id) {
          throw invalidOperation('subscription is not paused', { subscription_status: current.subscription_status });
        }
        const pause = await tx
          .selectFrom('subscription_pauses')
          .selectAll()
          .where('tenant_id', '=', scope.tenantId)
          .where('environment_id', '=', scope.environmentId)
          .where('id', '=', current.active_pause_id)
          .executeTakeFirstOrThrow();
        const metadata = { ...(pause.metadata ?? {}), ...(input.metadata ?? {}) };
        const resumed = { ...pause, pause_status: 'completed', resume_mode: 'immediate', resumed_at: now, metadata };
        if (input.dry_run) return pauseView({ ...resumed, updated_at: now });
        const row = await tx
          .updateTable('subscription_pauses')
          .set({
            pause_status: 'completed',
            resume_mode: 'immediate',
            resumed_at: now,
            metadata: JSON.stringify(metadata),
            updated_at: now,
          })
          .where('id', '=', pause.id)
          .returningAll()
          .executeTakeFirstOrThrow();
        const updated = await repo.updateSubscriptionById(tx, scope, id, {
          subscription_status: 'active',
          pause_status: 'none',
          active_pause_id: null,
          version: current.version + 1,
          updated_at: now,
        });
        await emit(tx, scope, { type: 'subscription.resumed', subscription: subscriptionView(updated) });
        return pauseView(row);
      });
    },

    /** Every pause of the subscription, oldest first (a bare array, as the SDK expects). */
    async listSubscriptionPauses(scope: Scope, id: string): Promise<PauseView[]> {
      const sub = await repo.findSubscriptionById(db, scope, id);
      if (!sub) throw notFound('subscription', { id });
      const rows = await db
        .selectFrom('subscription_pauses')
        .selectAll()
        .where('tenant_id', '=', scope.tenantId)
        .where('environment_id', '=', scope.environmentId)
        .where('subscription_id', '=', id)
        .orderBy('created_at', 'asc')
        .orderBy('id', 'asc')
        .execute();
      return rows.map(pauseView);
    },
  };
}
