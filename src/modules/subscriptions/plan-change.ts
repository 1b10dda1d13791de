import type { Selectable } from 'kysely';
import { type Executor, type Tx, withTransaction } from '../../platform/db/database.ts';
import type { SubscriptionSchedulesTable } from '../../platform/db/schema.ts';
import { invalidOperation, notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { newId } from '../../platform/ids.ts';
import { dec, type Money, toWire } from '../../platform/money.ts';
import type { InvoiceDraft } from '../billing/draft.ts';
import { type BillingModel, chargeFor, type PricingSpec, type TierMode } from '../catalog/pricing.ts';
import { type ProratableCharge, prorate, type ProrationResult } from './proration.ts';
import { nextPeriod, type SubscriptionBillingPeriod } from './periods.ts';
import * as repo from './subscriptions.repo.ts';
import { findLiveById, listLiveBy } from '../../platform/db/scoped.ts';
import { type PriceRow, type SubscriptionInternals, subscriptionView } from './subscriptions.service.ts';

export const CHANGE_TIMINGS = ['immediate', 'end_of_period'] as const;
export const PRORATION_BEHAVIORS = ['create_prorations', 'none'] as const;

export interface SubscriptionChangeInput {
  target_plan_id: string;
  proration_behavior: string;
  billing_cadence: string;
  billing_cycle: string;
  billing_period: string;
  billing_period_count?: number | undefined;
  change_at?: string | undefined;
  metadata?: Record<string, string> | undefined;
}

/**
 * Receives the PRORATION invoice draft of an executed plan change, inside the change's transaction (the invoices
 * module writes it). What it returns (the written invoice) is answered as `invoice`.
 */
export type ProrationInvoiceListener = (tx: Tx, scope: Scope, draft: InvoiceDraft) => Promise<unknown>;

type ChangeType = 'upgrade' | 'downgrade' | 'lateral';
type ScheduleRow = Selectable<SubscriptionSchedulesTable>;

/** The full-period charge of a FIXED price for a quantity, in the currency. */
function fixedCharge(price: PriceRow, quantity: string): Money {
  const spec: PricingSpec = {
    billing_model: price.billing_model as BillingModel,
    amount: price.amount,
    ...(price.tier_mode ? { tier_mode: price.tier_mode as TierMode } : {}),
    tiers: price.tiers?.map((t) => ({ ...t })) as PricingSpec['tiers'],
    transform_quantity: price.transform_quantity as PricingSpec['transform_quantity'],
    currency: price.currency,
    ...(price.price_unit_type === 'CUSTOM' && price.conversion_rate ? { conversion_rate: price.conversion_rate } : {}),
  };
  return chargeFor(spec, quantity);
}

const iso = (d: Date) => d.toISOString();

/**
 * Plan change (reference §6.1 v1 change preview/execute), in place: the subscription keeps its id, anchor and
 * current period; the old plan's line items end at the change and the target plan's start then. Only immediate
 * changes within the same billing period, period count and cycle; `end_of_period` needs the period job (refused).
 */
export function createPlanChangeUseCases(internals: SubscriptionInternals) {
  const { db, clock, emit, loadForUpdate, findPlan, planPrices, insertPriceLineItems } = internals;
  const prorationListeners: ProrationInvoiceListener[] = [];

  function checkRequest(input: SubscriptionChangeInput) {
    if (!input.target_plan_id) throw validation('target_plan_id is required');
    if (!(PRORATION_BEHAVIORS as readonly string[]).includes(input.proration_behavior)) {
      throw validation(`proration_behavior must be one of ${PRORATION_BEHAVIORS.join(', ')}`);
    }
    const changeAt = input.change_at ?? 'immediate';
    if (!(CHANGE_TIMINGS as readonly string[]).includes(changeAt)) {
      throw validation(`change_at must be one of ${CHANGE_TIMINGS.join(', ')}`);
    }
    if (input.billing_cadence !== 'RECURRING') throw validation('billing_cadence must be RECURRING');
  }

  /** Everything the change would do at `now`, read in `tx` (nothing written). */
  async function plan(tx: Tx, scope: Scope, id: string, input: SubscriptionChangeInput) {
    checkRequest(input);
    const now = clock.now();
    const current = await loadForUpdate(tx, scope, id);
    if (current.subscription_status !== 'active') {
      throw invalidOperation('only active subscriptions can change plan', {
        subscription_status: current.subscription_status,
      });
    }
    if (current.cancel_at) throw invalidOperation('subscription is scheduled to cancel', { id });
    const count = input.billing_period_count ?? 1;
    if (
      input.billing_period !== current.billing_period ||
      count !== current.billing_period_count ||
      input.billing_cycle !== current.billing_cycle
    ) {
      throw validation(
        'changing the billing period, period count or cycle with the plan is not supported yet: they must match the subscription',
        {
          billing_period: current.billing_period,
          billing_period_count: current.billing_period_count,
          billing_cycle: current.billing_cycle,
        },
      );
    }
    if (input.target_plan_id === current.plan_id) throw validation('the subscription is already on the target plan');
    if (now.getTime() < current.current_period_start.getTime() || now >= current.current_period_end) {
      throw invalidOperation('the subscription is not in its current period (the period job is behind)', {
        current_period_start: iso(current.current_period_start),
        current_period_end: iso(current.current_period_end),
      });
    }
    const [currentPlan, targetPlan] = await Promise.all([
      tx
        .selectFrom('plans')
        .select(['id', 'name', 'lookup_key', 'description'])
        .where('tenant_id', '=', scope.tenantId)
        .where('environment_id', '=', scope.environmentId)
        .where('id', '=', current.plan_id)
        .executeTakeFirstOrThrow(),
      findPlan(tx, scope, input.target_plan_id).then(() =>
        tx
          .selectFrom('plans')
          .select(['id', 'name', 'lookup_key', 'description'])
          .where('tenant_id', '=', scope.tenantId)
          .where('environment_id', '=', scope.environmentId)
          .where('id', '=', input.target_plan_id)
          .executeTakeFirstOrThrow(),
      ),
    ]);
    const atPeriodEnd = (input.change_at ?? 'immediate') === 'end_of_period';
    const effective = atPeriodEnd ? current.current_period_end : now;
    const newPrices = await planPrices(tx, scope, targetPlan.id, {
      currency: current.currency,
      billingPeriod: current.billing_period,
      count: current.billing_period_count,
      at: effective,
    });
    if (newPrices.length === 0) {
      throw validation('the target plan has no prices for the subscription currency and billing period', {
        target_plan_id: targetPlan.id,
        currency: current.currency,
        billing_period: current.billing_period,
      });
    }
    // The old plan's line items live now; their prices (even if since archived) price the credit.
    const oldItems = (await repo.findLineItems(tx, scope, [id])).filter(
      (li) =>
        li.entity_type === 'plan' &&
        li.start_date.getTime() <= now.getTime() &&
        (!li.end_date || li.end_date.getTime() > now.getTime()),
    );
    const oldPriceIds = [...new Set(oldItems.map((li) => li.price_id))];
    const oldPrices = oldPriceIds.length
      ? await tx
          .selectFrom('prices')
          .selectAll()
          .where('tenant_id', '=', scope.tenantId)
          .where('environment_id', '=', scope.environmentId)
          .where('id', 'in', oldPriceIds)
          .execute()
      : [];
    const priceById = new Map(oldPrices.map((p) => [p.id, p]));
    const advanceFixed = (p: PriceRow | undefined) =>
      p !== undefined && p.type === 'FIXED' && p.invoice_cadence === 'ADVANCE';
    const credits: ProratableCharge[] = oldItems.flatMap((li) => {
      const price = priceById.get(li.price_id);
      if (!price || !advanceFixed(price)) return [];
      return [
        {
          line_item_id: li.id,
          price_id: price.id,
          display_name: li.display_name,
          amount: fixedCharge(price, li.quantity),
        },
      ];
    });
    const charges: ProratableCharge[] = newPrices.filter(advanceFixed).map((price) => ({
      line_item_id: null,
      price_id: price.id,
      display_name: price.display_name || targetPlan.name,
      amount: fixedCharge(price, '1'),
    }));
    const oldTotal = credits.reduce((sum, c) => sum.add(c.amount), dec(0));
    const newTotal = charges.reduce((sum, c) => sum.add(c.amount), dec(0));
    const changeType: ChangeType = newTotal.gt(oldTotal) ? 'upgrade' : newTotal.lt(oldTotal) ? 'downgrade' : 'lateral';
    // At the period end nothing is left to prorate: the ended period is invoiced on the old plan, the next on the new.
    const proration: ProrationResult = atPeriodEnd
      ? {
          total_days: Math.round(
            (current.current_period_end.getTime() - current.current_period_start.getTime()) / 86_400_000,
          ),
          days_used: Math.round(
            (current.current_period_end.getTime() - current.current_period_start.getTime()) / 86_400_000,
          ),
          days_remaining: 0,
          credit_amount: dec(0),
          charge_amount: dec(0),
          net_amount: dec(0),
          lines: [],
        }
      : prorate({
          periodStart: current.current_period_start,
          periodEnd: current.current_period_end,
          at: now,
          currency: current.currency,
          credits,
          charges,
        });
    return {
      now,
      effective,
      atPeriodEnd,
      current,
      currentPlan,
      targetPlan,
      newPrices,
      oldItems,
      changeType,
      proration,
      charges,
    };
  }

  function prorationDetails(
    p: ProrationResult,
    ctx: { currency: string; periodStart: Date; periodEnd: Date; at: Date; behavior: string },
  ) {
    const none = ctx.behavior === 'none';
    const zero = '0';
    return {
      credit_amount: none ? zero : toWire(p.credit_amount),
      credit_description: 'Credit for the unused part of the current plan',
      charge_amount: none ? zero : toWire(p.charge_amount),
      charge_description: 'Charge for the remaining part of the period on the new plan',
      net_amount: none ? zero : toWire(p.net_amount),
      currency: ctx.currency,
      current_period_start: iso(ctx.periodStart),
      current_period_end: iso(ctx.periodEnd),
      proration_date: iso(ctx.at),
      days_used: p.days_used,
      days_remaining: p.days_remaining,
    };
  }

  function draftOf(
    planned: Awaited<ReturnType<typeof plan>>,
    changeId: string,
    metadata: Record<string, string>,
  ): InvoiceDraft {
    const { current, proration, now, targetPlan, currentPlan } = planned;
    return {
      customer_id: current.customer_id,
      subscription_id: current.id,
      invoice_type: 'SUBSCRIPTION',
      billing_reason: 'PRORATION',
      currency: current.currency,
      period_start: now,
      period_end: current.current_period_end,
      billing_period: current.billing_period,
      idempotency_key: `${current.id}:plan_change:${changeId}`,
      lines: proration.lines.map((line) => ({
        entity_type: 'plan',
        entity_id: line.kind === 'credit' ? currentPlan.id : targetPlan.id,
        subscription_line_item_id: line.line_item_id,
        price_id: line.price_id,
        price_type: 'FIXED',
        plan_display_name: line.kind === 'credit' ? currentPlan.name : targetPlan.name,
        meter_id: null,
        meter_display_name: null,
        display_name: `${line.kind === 'credit' ? 'Unused time' : 'Remaining time'}: ${line.display_name}`,
        quantity: dec(1),
        adjusted_entitlement_quantity: null,
        amount: line.prorated_amount,
        period_start: now,
        period_end: current.current_period_end,
        metadata: { proration: line.kind },
      })),
      metadata: { ...metadata, subscription_change_id: changeId, change_type: planned.changeType },
    };
  }

  /** Pending plan-change schedules of the subscription become `cancelled`; returns how many. */
  async function cancelPendingSchedules(tx: Tx, scope: Scope, subscriptionId: string, now: Date, reason: string) {
    const result = await tx
      .updateTable('subscription_schedules')
      .set({
        schedule_status: 'cancelled',
        cancelled_at: now,
        execution_result: JSON.stringify({ reason }),
        updated_at: now,
      })
      .where('tenant_id', '=', scope.tenantId)
      .where('environment_id', '=', scope.environmentId)
      .where('subscription_id', '=', subscriptionId)
      .where('schedule_type', '=', 'plan_change')
      .where('schedule_status', '=', 'pending')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** `change_at: end_of_period`: the change is stored as a pending schedule that the period job applies. */
  async function scheduleChange(
    tx: Tx,
    scope: Scope,
    planned: Awaited<ReturnType<typeof plan>>,
    input: SubscriptionChangeInput,
  ) {
    const { current, now, effective, targetPlan, proration } = planned;
    const row = await tx
      .insertInto('subscription_schedules')
      .values({
        id: newId('subscriptionSchedule'),
        tenant_id: scope.tenantId,
        environment_id: scope.environmentId,
        subscription_id: current.id,
        schedule_type: 'plan_change',
        schedule_status: 'pending',
        scheduled_at: effective,
        configuration: JSON.stringify({
          target_plan_id: targetPlan.id,
          from_plan_id: current.plan_id,
          change_type: planned.changeType,
          proration_behavior: input.proration_behavior,
          billing_cadence: input.billing_cadence,
          billing_cycle: input.billing_cycle,
          billing_period: input.billing_period,
          billing_period_count: input.billing_period_count ?? 1,
        }),
        metadata: JSON.stringify(input.metadata ?? {}),
        status: 'published',
        created_at: now,
        updated_at: now,
        created_by: '',
        updated_by: '',
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const summaryOf = (planId: string) => ({
      id: current.id,
      plan_id: planId,
      status: current.subscription_status,
      billing_anchor: iso(current.billing_anchor),
      current_period_start: iso(current.current_period_start),
      current_period_end: iso(current.current_period_end),
      created_at: iso(current.created_at),
    });
    return {
      change_type: planned.changeType,
      effective_date: iso(effective),
      is_scheduled: true,
      schedule_id: row.id,
      scheduled_at: iso(effective),
      old_subscription: summaryOf(current.plan_id),
      new_subscription: summaryOf(targetPlan.id),
      proration_applied: prorationDetails(proration, {
        currency: current.currency,
        periodStart: current.current_period_start,
        periodEnd: current.current_period_end,
        at: effective,
        behavior: 'none',
      }),
      metadata: input.metadata ?? {},
    };
  }

  const summary = (p: { id: string; name: string; lookup_key: string; description: string }) => ({
    id: p.id,
    name: p.name,
    lookup_key: p.lookup_key,
    description: p.description,
  });

  async function scheduleOrThrow(executor: Executor, scope: Scope, id: string) {
    const row = await findLiveById(executor, 'subscription_schedules', scope, id);
    if (!row) throw notFound('subscription schedule', { id });
    return row;
  }

  function scheduleView(row: ScheduleRow) {
    const now = clock.now();
    return {
      id: row.id,
      subscription_id: row.subscription_id,
      schedule_type: row.schedule_type,
      scheduled_at: iso(row.scheduled_at),
      status: row.schedule_status,
      configuration: row.configuration,
      ...(row.execution_result ? { execution_result: row.execution_result } : {}),
      ...(row.executed_at ? { executed_at: iso(row.executed_at) } : {}),
      ...(row.cancelled_at ? { cancelled_at: iso(row.cancelled_at) } : {}),
      ...(row.error_message ? { error_message: row.error_message } : {}),
      can_be_cancelled: row.schedule_status === 'pending',
      days_until_execution:
        row.schedule_status === 'pending'
          ? Math.max(0, Math.ceil((row.scheduled_at.getTime() - now.getTime()) / 86_400_000))
          : 0,
      metadata: row.metadata ?? {},
      created_at: iso(row.created_at),
      updated_at: iso(row.updated_at),
    };
  }

  return {
    /**
     * The period job's boundary hook (in the period's transaction, before the ended period is invoiced): a pending
     * plan change due at this boundary ends the old plan's line items at the boundary and starts the target plan's
     * there (so the ended period is invoiced on the old plan and the next period's ADVANCE fees on the new one), sets
     * `plan_id`, marks the schedule `executed` and emits subscription.plan_changed; no proration. A subscription that
     * ends at the boundary drops its pending change (`cancelled`). A target plan gone or without matching prices
     * marks the schedule `failed` (with `error_message`) and leaves the subscription on its plan.
     */
    async applyScheduledChange(
      tx: Tx,
      scope: Scope,
      subscription: repo.SubscriptionRow,
      boundary: { at: Date; ending: boolean; now: Date },
    ): Promise<repo.SubscriptionRow> {
      const pending = await tx
        .selectFrom('subscription_schedules')
        .selectAll()
        .where('tenant_id', '=', scope.tenantId)
        .where('environment_id', '=', scope.environmentId)
        .where('subscription_id', '=', subscription.id)
        .where('schedule_type', '=', 'plan_change')
        .where('schedule_status', '=', 'pending')
        .forUpdate()
        .executeTakeFirst();
      if (!pending) return subscription;
      const { at, now } = boundary;
      const finish = (changes: Record<string, unknown>) =>
        tx
          .updateTable('subscription_schedules')
          .set({ ...changes, updated_at: now })
          .where('id', '=', pending.id)
          .execute();
      if (boundary.ending) {
        await finish({
          schedule_status: 'cancelled',
          cancelled_at: now,
          execution_result: JSON.stringify({ reason: 'the subscription ended before the change' }),
        });
        return subscription;
      }
      if (pending.scheduled_at.getTime() > at.getTime()) return subscription;
      const targetPlanId = String(pending.configuration.target_plan_id ?? '');
      const target = await tx
        .selectFrom('plans')
        .select(['id', 'name'])
        .where('tenant_id', '=', scope.tenantId)
        .where('environment_id', '=', scope.environmentId)
        .where('id', '=', targetPlanId)
        .where('status', '=', 'published')
        .executeTakeFirst();
      const newPrices = target
        ? await planPrices(tx, scope, target.id, {
            currency: subscription.currency,
            billingPeriod: subscription.billing_period,
            count: subscription.billing_period_count,
            at,
          })
        : [];
      if (!target || newPrices.length === 0) {
        await finish({
          schedule_status: 'failed',
          error_message: target
            ? 'the target plan has no prices for the subscription currency and billing period'
            : 'the target plan no longer exists',
        });
        return subscription;
      }
      const oldItems = (await repo.findLineItems(tx, scope, [subscription.id])).filter(
        (li) => li.entity_type === 'plan' && (!li.end_date || li.end_date.getTime() > at.getTime()),
      );
      await repo.endLineItems(
        tx,
        scope,
        oldItems.map((li) => li.id),
        at,
        now,
      );
      const row = await repo.updateSubscriptionById(tx, scope, subscription.id, {
        plan_id: target.id,
        version: subscription.version + 1,
        updated_at: now,
      });
      await insertPriceLineItems(tx, scope, row, newPrices, {
        entityType: 'plan',
        entityId: target.id,
        name: target.name,
        start: at,
        end: row.end_date,
      });
      await finish({
        schedule_status: 'executed',
        executed_at: now,
        execution_result: JSON.stringify({
          from_plan_id: subscription.plan_id,
          to_plan_id: target.id,
          effective_date: iso(at),
          change_type: pending.configuration.change_type ?? null,
          ended_line_item_ids: oldItems.map((li) => li.id),
        }),
      });
      const view = subscriptionView(row, await repo.findLineItems(tx, scope, [subscription.id]));
      await emit(tx, scope, { type: 'subscription.plan_changed', subscription: view });
      return row;
    },

    /** Pending plan changes are dropped when the subscription is cancelled now (subscriptions.service cancel). */
    cancelPendingSchedules,

    /**
     * `proration_behavior: create_prorations` on an immediate cancellation, in the cancel's transaction (before the
     * line items are ended): every ADVANCE fixed fee invoiced for a span containing `at` (the period's fee, or the
     * remaining-time charge of a plan change) is credited for its unused whole days (day-based, as the plan change:
     * the day of the cancellation counts as unused), against what was actually invoiced for it (a period not invoiced,
     * e.g. spent paused, credits nothing). The credit goes to the prepaid wallet through the proration listeners
     * (billing.settleProration, `SUBSCRIPTION_CREDIT_GRANT`); nothing is invoiced. Returns the reference's
     * ProrationDetail entries and the total.
     */
    async settleCancellationProration(tx: Tx, scope: Scope, subscription: repo.SubscriptionRow, at: Date) {
      const items = (await repo.findLineItems(tx, scope, [subscription.id])).filter(
        (li) =>
          li.price_type === 'FIXED' &&
          li.invoice_cadence === 'ADVANCE' &&
          li.start_date.getTime() <= at.getTime() &&
          (!li.end_date || li.end_date.getTime() > at.getTime()),
      );
      const byId = new Map(items.map((li) => [li.id, li]));
      const invoiced = items.length
        ? await tx
            .selectFrom('invoice_line_items as l')
            .innerJoin('invoices as i', 'i.id', 'l.invoice_id')
            .select(['l.subscription_line_item_id', 'l.period_start', 'l.period_end', 'l.amount'])
            .where('l.tenant_id', '=', scope.tenantId)
            .where('l.environment_id', '=', scope.environmentId)
            .where('l.subscription_id', '=', subscription.id)
            .where('l.subscription_line_item_id', 'in', [...byId.keys()])
            .where('l.period_start', '<=', at)
            .where('l.period_end', '>', at)
            .where('i.invoice_status', '!=', 'VOIDED')
            .where('i.status', '=', 'published')
            .execute()
        : [];
      // What each line item was invoiced for each span (a span may be invoiced in several lines).
      const spans = new Map<string, { itemId: string; start: Date; end: Date; amount: Money }>();
      for (const row of invoiced) {
        if (!row.subscription_line_item_id || !row.period_start || !row.period_end) continue;
        const key = `${row.subscription_line_item_id}|${row.period_start.toISOString()}|${row.period_end.toISOString()}`;
        const span = spans.get(key) ?? {
          itemId: row.subscription_line_item_id,
          start: row.period_start,
          end: row.period_end,
          amount: dec(0),
        };
        span.amount = span.amount.add(dec(row.amount));
        spans.set(key, span);
      }
      const details: Array<{
        line_item_id: string;
        price_id: string;
        plan_name: string;
        description: string;
        proration_days: number;
        original_amount: string;
        credit_amount: string;
        charge_amount: string;
      }> = [];
      const lines: InvoiceDraft['lines'] = [];
      let total = dec(0);
      for (const span of spans.values()) {
        const item = byId.get(span.itemId)!;
        if (!span.amount.gt(0)) continue;
        const p = prorate({
          periodStart: span.start,
          periodEnd: span.end,
          at,
          currency: subscription.currency,
          credits: [
            { line_item_id: item.id, price_id: item.price_id, display_name: item.display_name, amount: span.amount },
          ],
          charges: [],
        });
        if (!p.credit_amount.gt(0)) continue;
        total = total.add(p.credit_amount);
        details.push({
          line_item_id: item.id,
          price_id: item.price_id,
          plan_name: item.plan_display_name,
          description: `Unused time: ${item.display_name}`,
          proration_days: p.days_remaining,
          original_amount: toWire(span.amount),
          credit_amount: toWire(p.credit_amount),
          charge_amount: '0',
        });
        lines.push({
          entity_type: item.entity_type,
          entity_id: item.entity_id,
          subscription_line_item_id: item.id,
          price_id: item.price_id,
          price_type: 'FIXED',
          plan_display_name: item.plan_display_name,
          meter_id: null,
          meter_display_name: null,
          display_name: `Unused time: ${item.display_name}`,
          quantity: dec(1),
          adjusted_entitlement_quantity: null,
          amount: p.credit_amount.neg(),
          period_start: at,
          period_end: span.end,
          metadata: { proration: 'credit' },
        });
      }
      if (lines.length > 0) {
        const draft: InvoiceDraft = {
          customer_id: subscription.customer_id,
          subscription_id: subscription.id,
          invoice_type: 'SUBSCRIPTION',
          billing_reason: 'PRORATION',
          currency: subscription.currency,
          period_start: at,
          period_end: subscription.current_period_end,
          billing_period: subscription.billing_period,
          idempotency_key: `${subscription.id}:cancel:${at.toISOString()}`,
          lines,
          metadata: { cancellation: 'immediate' },
        };
        for (const listener of prorationListeners) await listener(tx, scope, draft);
      }
      return { details, total };
    },

    /** `GET /v1/subscriptions/{id}/schedules`: every schedule of the subscription, oldest first. */
    async listSubscriptionSchedules(scope: Scope, subscriptionId: string) {
      const sub = await repo.findSubscriptionById(db, scope, subscriptionId);
      if (!sub) throw notFound('subscription', { id: subscriptionId });
      const rows = await listLiveBy(db, 'subscription_schedules', scope, 'subscription_id', subscriptionId);
      return { schedules: rows.map(scheduleView), count: rows.length };
    },

    /** `GET /v1/subscription-schedules/{id}`. */
    async getSubscriptionSchedule(scope: Scope, id: string) {
      return scheduleView(await scheduleOrThrow(db, scope, id));
    },

    /**
     * `POST /v1/subscriptions/schedules/{schedule_id}/cancel`: a pending schedule becomes `cancelled` (400
     * invalid_operation once executed, cancelled or failed). The optional body may repeat the id; a different
     * `schedule_id`, `subscription_id` or `schedule_type` than the schedule's is 400.
     */
    async cancelSubscriptionSchedule(
      scope: Scope,
      id: string,
      body: { schedule_id?: string; subscription_id?: string; schedule_type?: string } = {},
    ) {
      const now = clock.now();
      return withTransaction(db, async (tx) => {
        const found = await scheduleOrThrow(tx, scope, id);
        // Lock the subscription first (as the period job does), then re-read the schedule.
        await loadForUpdate(tx, scope, found.subscription_id);
        const row = await scheduleOrThrow(tx, scope, id);
        for (const [field, value] of [
          ['schedule_id', row.id],
          ['subscription_id', row.subscription_id],
          ['schedule_type', row.schedule_type],
        ] as const) {
          if (body[field] !== undefined && body[field] !== value) {
            throw validation(`${field} does not match the schedule`, { [field]: body[field] });
          }
        }
        if (row.schedule_status !== 'pending') {
          throw invalidOperation(`the schedule is ${row.schedule_status}; only pending schedules can be cancelled`, {
            status: row.schedule_status,
          });
        }
        await tx
          .updateTable('subscription_schedules')
          .set({
            schedule_status: 'cancelled',
            cancelled_at: now,
            execution_result: JSON.stringify({ reason: 'cancelled on request' }),
            updated_at: now,
          })
          .where('id', '=', row.id)
          .execute();
        return { message: 'schedule cancelled', status: 'cancelled' };
      });
    },

    /** Registered by createServices at merge: the invoices module writes the PRORATION draft. */
    onProrationInvoice(listener: ProrationInvoiceListener) {
      prorationListeners.push(listener);
    },

    /** POST /subscriptions/{id}/change/preview: what execute would do now, nothing written. */
    async previewSubscriptionChange(scope: Scope, id: string, input: SubscriptionChangeInput) {
      return withTransaction(db, async (tx) => {
        const planned = await plan(tx, scope, id, input);
        const { current, proration, now, effective, atPeriodEnd } = planned;
        const create = input.proration_behavior === 'create_prorations';
        const draft = draftOf(planned, 'preview', input.metadata ?? {});
        const next = atPeriodEnd
          ? nextPeriod(
              current.billing_anchor,
              current.current_period_end,
              current.billing_period as SubscriptionBillingPeriod,
              current.billing_period_count,
            )
          : { periodStart: current.current_period_start, periodEnd: current.current_period_end };
        // At the period end: the new plan's ADVANCE fixed charges on the first invoice of the next period.
        const lineItems = atPeriodEnd
          ? planned.charges.map((c) => ({
              description: c.display_name,
              amount: toWire(c.amount),
              quantity: '1',
              unit_price: toWire(c.amount),
              period_start: iso(next.periodStart),
              period_end: iso(next.periodEnd),
              is_proration: false,
            }))
          : create
            ? draft.lines.map((l) => ({
                description: l.display_name,
                amount: toWire(l.amount),
                quantity: toWire(l.quantity),
                unit_price: toWire(l.amount),
                period_start: iso(now),
                period_end: iso(current.current_period_end),
                is_proration: true,
              }))
            : [];
        const total = atPeriodEnd
          ? planned.charges.reduce((sum, c) => sum.add(c.amount), dec(0))
          : create
            ? proration.net_amount
            : dec(0);
        return {
          subscription_id: current.id,
          current_plan: summary(planned.currentPlan),
          target_plan: summary(planned.targetPlan),
          change_type: planned.changeType,
          effective_date: iso(effective),
          proration_details: prorationDetails(proration, {
            currency: current.currency,
            periodStart: current.current_period_start,
            periodEnd: current.current_period_end,
            at: effective,
            behavior: atPeriodEnd ? 'none' : input.proration_behavior,
          }),
          next_invoice_preview: {
            currency: current.currency,
            line_items: lineItems,
            subtotal: toWire(total),
            tax_amount: '0',
            total: toWire(total),
            due_date: iso(effective),
          },
          new_billing_cycle: {
            billing_anchor: iso(current.billing_anchor),
            billing_cadence: 'RECURRING',
            billing_period: current.billing_period,
            billing_period_count: current.billing_period_count,
            period_start: iso(next.periodStart),
            period_end: iso(next.periodEnd),
          },
          warnings: atPeriodEnd
            ? [
                `the change is scheduled for the end of the current period (${iso(effective)}); the current period is invoiced on the current plan, without proration`,
              ]
            : ([] as string[]),
          metadata: input.metadata ?? {},
        };
      });
    },

    /**
     * POST /subscriptions/{id}/change/execute: the plan changes now. With `create_prorations` the PRORATION invoice
     * draft (credits for the unused part of the old ADVANCE fixed charges, charges for the rest of the period on the
     * new plan) goes to the proration listeners in the same transaction. subscription.plan_changed.
     */
    async executeSubscriptionChange(scope: Scope, id: string, input: SubscriptionChangeInput) {
      return withTransaction(db, async (tx) => {
        const planned = await plan(tx, scope, id, input);
        const { current, proration, now, targetPlan, newPrices, oldItems } = planned;
        // A change made now (or scheduled anew) replaces a plan change still pending for the period end.
        await cancelPendingSchedules(tx, scope, id, now, 'replaced by a later plan change');
        if (planned.atPeriodEnd) return scheduleChange(tx, scope, planned, input);
        const changeId = newId('subscriptionChange');
        await repo.endLineItems(
          tx,
          scope,
          oldItems.map((li) => li.id),
          now,
          now,
        );
        const row = await repo.updateSubscriptionById(tx, scope, id, {
          plan_id: targetPlan.id,
          version: current.version + 1,
          updated_at: now,
        });
        const inserted = await insertPriceLineItems(tx, scope, row, newPrices, {
          entityType: 'plan',
          entityId: targetPlan.id,
          name: targetPlan.name,
          start: now,
          end: row.end_date,
        });
        let invoice: unknown;
        if (input.proration_behavior === 'create_prorations' && proration.lines.length > 0) {
          const draft = draftOf(planned, changeId, input.metadata ?? {});
          // The remaining-time charges belong to the new line items (a later cancellation credits them back).
          const itemOfPrice = new Map(inserted.map((li) => [li.price_id, li.id]));
          for (const line of draft.lines) {
            if (line.subscription_line_item_id === null && line.price_id) {
              line.subscription_line_item_id = itemOfPrice.get(line.price_id) ?? null;
            }
          }
          for (const listener of prorationListeners) {
            const written = await listener(tx, scope, draft);
            if (invoice === undefined && written !== undefined) invoice = written;
          }
        }
        const view = subscriptionView(row, await repo.findLineItems(tx, scope, [id]));
        await emit(tx, scope, { type: 'subscription.plan_changed', subscription: view });
        const subscriptionSummary = (planId: string) => ({
          id: row.id,
          plan_id: planId,
          status: row.subscription_status,
          billing_anchor: iso(row.billing_anchor),
          current_period_start: iso(row.current_period_start),
          current_period_end: iso(row.current_period_end),
          created_at: iso(row.created_at),
        });
        return {
          change_type: planned.changeType,
          effective_date: iso(now),
          is_scheduled: false,
          old_subscription: subscriptionSummary(current.plan_id),
          new_subscription: subscriptionSummary(targetPlan.id),
          proration_applied: prorationDetails(proration, {
            currency: current.currency,
            periodStart: current.current_period_start,
            periodEnd: current.current_period_end,
            at: now,
            behavior: input.proration_behavior,
          }),
          ...(invoice !== undefined ? { invoice } : {}),
          metadata: input.metadata ?? {},
        };
      });
    },
  };
}
