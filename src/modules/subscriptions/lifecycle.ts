import type { Selectable } from 'kysely';
import { type Tx, withTransaction } from '../../platform/db/database.ts';
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

  /** One due pause: a scheduled one starts (and ends too when its end has also passed), an active one ends. */
  async function advancePause(tx: Tx, scope: Scope, pauseId: string, subscriptionId: string, now: Date) {
    const current = await repo.findSubscriptionById(tx, scope, subscriptionId, { forUpdate: true });
    const pause = await tx
      .selectFrom('subscription_pauses')
      .selectAll()
      .where('tenant_id', '=', scope.tenantId)
      .where('environment_id', '=', scope.environmentId)
      .where('id', '=', pauseId)
      .forUpdate()
      .executeTakeFirst();
    if (!current || !pause) return;
    const endAt = pause.pause_end;
    const stillDue =
      (pause.pause_status === 'scheduled' && pause.pause_start.getTime() <= now.getTime()) ||
      (pause.pause_status === 'active' && endAt !== null && endAt.getTime() <= now.getTime());
    if (!stillDue) return;
    const ours = current.active_pause_id === pause.id;
    if (pause.pause_status === 'scheduled' && (!ours || current.subscription_status !== 'active')) {
      // The subscription ended (or stopped being active) before the pause could start: the pause never happens.
      await tx
        .updateTable('subscription_pauses')
        .set({ pause_status: 'cancelled', updated_at: now })
        .where('id', '=', pause.id)
        .execute();
      if (ours) {
        await repo.updateSubscriptionById(tx, scope, current.id, {
          pause_status: 'cancelled',
          active_pause_id: null,
          version: current.version + 1,
          updated_at: now,
        });
      }
      return;
    }
    if (pause.pause_status === 'active' && (!ours || current.subscription_status !== 'paused')) return;
    let version = current.version;
    if (pause.pause_status === 'scheduled') {
      await tx
        .updateTable('subscription_pauses')
        .set({ pause_status: 'active', updated_at: now })
        .where('id', '=', pause.id)
        .execute();
      const paused = await repo.updateSubscriptionById(tx, scope, current.id, {
        subscription_status: 'paused',
        pause_status: 'active',
        version: (version += 1),
        updated_at: now,
      });
      await emit(tx, scope, { type: 'subscription.paused', subscription: subscriptionView(paused) });
    }
    if (endAt !== null && endAt.getTime() <= now.getTime()) {
      await tx
        .updateTable('subscription_pauses')
        .set({ pause_status: 'completed', resume_mode: 'auto', resumed_at: endAt, updated_at: now })
        .where('id', '=', pause.id)
        .execute();
      const resumed = await repo.updateSubscriptionById(tx, scope, current.id, {
        subscription_status: 'active',
        pause_status: 'none',
        active_pause_id: null,
        version: version + 1,
        updated_at: now,
      });
      await emit(tx, scope, { type: 'subscription.resumed', subscription: subscriptionView(resumed) });
    }
  }

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
        if (schedule && (current.pause_status === 'active' || current.pause_status === 'scheduled')) {
          // The job does not advance paused subscriptions, so it could not end this one at its date.
          throw invalidOperation('subscription is paused or has a pause scheduled: resume it first', {
            pause_status: current.pause_status,
          });
        }
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
     * Pauses an active subscription. `pause_mode`: `immediate` (now), `scheduled` (at `pause_start`, in the future) or
     * `period_end` (at the current period's end). `pause_end` or `pause_days` end the pause by themselves (the pause's
     * `resume_mode` is `auto`); without them it lasts until POST /resume. A pause that starts now makes the
     * subscription `paused` (subscription.paused); a later one is stored `scheduled` (the subscription's
     * `pause_status: scheduled`, `active_pause_id`; subscription.updated) and started by the period job at its start.
     * `dry_run` validates and answers the pause without writing.
     */
    async pauseSubscription(scope: Scope, id: string, input: PauseSubscriptionInput): Promise<PauseView> {
      if (!(PAUSE_MODES as readonly string[]).includes(input.pause_mode)) {
        throw validation(`pause_mode must be one of ${PAUSE_MODES.join(', ')}`, { pause_mode: input.pause_mode });
      }
      const mode = input.pause_mode as (typeof PAUSE_MODES)[number];
      const requestedStart = parseTime(input.pause_start, 'pause_start');
      if (mode === 'scheduled' && !requestedStart) {
        throw validation('pause_start is required when pause_mode is scheduled', { field: 'pause_start' });
      }
      if (mode !== 'scheduled' && requestedStart) {
        throw validation('pause_start is only used with pause_mode scheduled', { field: 'pause_start' });
      }
      if (input.pause_end !== undefined && input.pause_days !== undefined) {
        throw validation('pause_end and pause_days cannot be used together', { field: 'pause_days' });
      }
      if (input.pause_days !== undefined && (!Number.isInteger(input.pause_days) || input.pause_days < 1)) {
        throw validation('pause_days must be a whole number of days greater than 0', { field: 'pause_days' });
      }
      const requestedEnd = parseTime(input.pause_end, 'pause_end');
      const now = clock.now();
      if (requestedStart && requestedStart.getTime() <= now.getTime()) {
        throw validation('pause_start must be in the future (use pause_mode immediate to pause now)', {
          field: 'pause_start',
        });
      }
      return withTransaction(db, async (tx) => {
        const current = await loadForUpdate(tx, scope, id);
        if (current.subscription_status !== 'active') {
          throw invalidOperation('only active subscriptions can be paused', {
            subscription_status: current.subscription_status,
          });
        }
        if (current.cancel_at) throw invalidOperation('subscription is scheduled to cancel', { id });
        if (current.pause_status === 'scheduled') {
          throw invalidOperation('a pause is already scheduled (resuming cancels it)', {
            active_pause_id: current.active_pause_id,
          });
        }
        const start = mode === 'immediate' ? now : mode === 'scheduled' ? requestedStart! : current.current_period_end;
        const end =
          requestedEnd ??
          (input.pause_days !== undefined ? new Date(start.getTime() + input.pause_days * 86_400_000) : null);
        if (end && end.getTime() <= start.getTime()) {
          throw validation('pause_end must be after the pause start', {
            pause_start: start.toISOString(),
            pause_end: end.toISOString(),
          });
        }
        if (current.end_date && start.getTime() >= current.end_date.getTime()) {
          throw validation('the subscription ends before the pause would start', {
            end_date: current.end_date.toISOString(),
          });
        }
        const startsNow = mode === 'immediate';
        const pause = {
          id: newId('subscriptionPause'),
          tenant_id: scope.tenantId,
          environment_id: scope.environmentId,
          subscription_id: id,
          pause_status: startsNow ? 'active' : 'scheduled',
          pause_mode: mode,
          resume_mode: end ? 'auto' : null,
          pause_start: start,
          pause_end: end,
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
          ...(startsNow ? { subscription_status: 'paused', pause_status: 'active' } : { pause_status: 'scheduled' }),
          active_pause_id: row.id,
          version: current.version + 1,
          updated_at: now,
        });
        await emit(tx, scope, {
          type: startsNow ? 'subscription.paused' : 'subscription.updated',
          subscription: subscriptionView(updated),
        });
        return pauseView(row);
      });
    },

    /**
     * Resumes a paused subscription now (`resume_mode: immediate`): status `active`, `pause_status: none`, the
     * pause `completed` with `resumed_at`; subscription.resumed. On a subscription with a scheduled pause it cancels
     * that pause (`cancelled`; subscription.updated). Periods are not shifted; the periods that ended meanwhile are
     * invoiced by the job without the fixed fees of periods spent entirely paused (charges.ts). `scheduled` and
     * `auto` describe a pause that ends by itself (its `pause_end`), so they are refused here (400).
     */
    async resumeSubscription(scope: Scope, id: string, input: ResumeSubscriptionInput): Promise<PauseView> {
      if (!(RESUME_MODES as readonly string[]).includes(input.resume_mode)) {
        throw validation(`resume_mode must be one of ${RESUME_MODES.join(', ')}`, { resume_mode: input.resume_mode });
      }
      if (input.resume_mode !== 'immediate') {
        throw validation(
          `resume_mode ${input.resume_mode} cannot be requested: a pause with pause_end or pause_days resumes by itself at its end (resume_mode auto); resume now with resume_mode immediate`,
          { field: 'resume_mode' },
        );
      }
      const now = clock.now();
      return withTransaction(db, async (tx) => {
        const current = await loadForUpdate(tx, scope, id);
        const scheduled = current.pause_status === 'scheduled' && current.active_pause_id !== null;
        if ((current.subscription_status !== 'paused' && !scheduled) || !current.active_pause_id) {
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
        const changes = scheduled
          ? { pause_status: 'cancelled', resume_mode: 'immediate', resumed_at: null }
          : { pause_status: 'completed', resume_mode: 'immediate', resumed_at: now };
        if (input.dry_run) return pauseView({ ...pause, ...changes, metadata, updated_at: now });
        const row = await tx
          .updateTable('subscription_pauses')
          .set({ ...changes, metadata: JSON.stringify(metadata), updated_at: now })
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
        await emit(tx, scope, {
          type: scheduled ? 'subscription.updated' : 'subscription.resumed',
          subscription: subscriptionView(updated),
        });
        return pauseView(row);
      });
    },

    /**
     * The period job's pause step (before periods advance): scheduled pauses whose start has come begin — the
     * periods that ended by then are invoiced first (`catchUpTo`), since the job skips paused subscriptions — and
     * pauses whose `pause_end` has come end (`resumed_at` = `pause_end`, `resume_mode: auto`). Each pause in its own
     * transaction under the subscription's row lock, re-checking its state: running twice changes nothing twice.
     */
    async applyDuePauses(
      now: Date,
      limit: number,
      catchUpTo: (scope: Scope, subscriptionId: string, at: Date) => Promise<number>,
    ): Promise<Array<{ subscription_id: string; error: unknown }>> {
      const failed: Array<{ subscription_id: string; error: unknown }> = [];
      const due = await db
        .selectFrom('subscription_pauses')
        .select(['id', 'tenant_id', 'environment_id', 'subscription_id', 'pause_status', 'pause_start'])
        .where((eb) =>
          eb.or([
            eb.and([eb('pause_status', '=', 'scheduled'), eb('pause_start', '<=', now)]),
            eb.and([eb('pause_status', '=', 'active'), eb('pause_end', '<=', now)]),
          ]),
        )
        .orderBy('pause_start', 'asc')
        .orderBy('id', 'asc')
        .limit(limit)
        .execute();
      for (const due1 of due) {
        const scope = { tenantId: due1.tenant_id, environmentId: due1.environment_id };
        try {
          if (due1.pause_status === 'scheduled') await catchUpTo(scope, due1.subscription_id, due1.pause_start);
          await withTransaction(db, (tx) => advancePause(tx, scope, due1.id, due1.subscription_id, now));
        } catch (error) {
          failed.push({ subscription_id: due1.subscription_id, error });
        }
      }
      return failed;
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
