import type { BackgroundTask } from '../../platform/background/runner.ts';
import type { Clock } from '../../platform/clock.ts';
import { type Db, type Executor, type Tx, withTransaction } from '../../platform/db/database.ts';
import { notFound, validation } from '../../platform/errors.ts';
import type { Scope } from '../../platform/http/context.ts';
import { newId } from '../../platform/ids.ts';
import { dec, type Money, roundToCurrency, toWire } from '../../platform/money.ts';
import type { CreditGrantsService } from '../catalog/credit-grants.service.ts';
import { priceView } from '../catalog/catalog.views.ts';
import type { EventsService } from '../events/events.service.ts';
import { invoiceViewFromDraft } from '../invoices/invoices.views.ts';
import { nextPeriod, type SubscriptionBillingPeriod } from '../subscriptions/periods.ts';
import {
  type SubscriptionEvent,
  type SubscriptionEventListener,
  subscriptionView,
} from '../subscriptions/subscriptions.service.ts';
import type { PendingChargesProvider } from '../wallets/pending-charges.ts';
import type { ExpiryHold, WalletsService } from '../wallets/wallets.service.ts';
import * as repo from './billing.repo.ts';
import { type ChargeOptions, computeSubscriptionCharges, draftTotal } from './charges.ts';
import type { InvoiceDraft } from './draft.ts';
import { applicationView, applyDueGrants, cancelPendingApplications } from './grants.ts';

/** Writes one invoice draft inside the billing transaction (the invoices module, wired by the app). */
export type PeriodInvoiceWriter = (tx: Tx, scope: Scope, draft: InvoiceDraft) => Promise<unknown>;

/**
 * Runs in a period's transaction before the ended period is invoiced (the subscriptions module applies a plan change
 * scheduled for the boundary, or drops it when the subscription ends there). Returns the subscription row as it now is.
 */
export type PeriodBoundaryHook = (
  tx: Tx,
  scope: Scope,
  subscription: repo.SubscriptionRow,
  boundary: { at: Date; ending: boolean; now: Date },
) => Promise<repo.SubscriptionRow>;

/**
 * Runs at the start of each job run, before periods advance (the subscriptions module starts scheduled pauses and
 * ends pauses that are over). `catchUpTo` invoices a subscription's periods that ended by `at` (before a pause
 * starting then stops the job from billing it).
 */
export type BeforePeriodsHook = (
  now: Date,
  limit: number,
  catchUpTo: (scope: Scope, subscriptionId: string, at: Date) => Promise<number>,
) => Promise<Array<{ subscription_id: string; error: unknown }>>;

/** Periods one subscription may advance in one job run (a clock that jumped years ahead catches up over runs). */
const MAX_PERIODS_PER_RUN = 120;

export interface SubscriptionUsageInput {
  subscription_id: string;
  start_time?: string | undefined;
  end_time?: string | undefined;
  lifetime_usage?: boolean | undefined;
}

export interface PreviewInput {
  subscription_id: string;
  period_start?: string | undefined;
  period_end?: string | undefined;
  hide_zero_charges_line_items?: boolean | undefined;
}

function parseTime(value: string | undefined, field: string): Date | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw validation(`${field} must be an RFC 3339 timestamp`, { [field]: value });
  return new Date(ms);
}

/**
 * The billing engine: charges of subscription periods, the period-advance job (invoices, period changes,
 * cancellations, trial ends), credit grant applications and the usage part of the real-time wallet balance.
 */
export function createBillingService(deps: {
  db: Db;
  clock: Clock;
  events: Pick<EventsService, 'meterUsageManyIn'>;
  wallets: Pick<WalletsService, 'grantCreditsInTransaction'>;
  creditGrants: Pick<CreditGrantsService, 'insertCreditGrant'>;
}) {
  const { db, clock } = deps;
  const invoiceWriters: PeriodInvoiceWriter[] = [];
  const subscriptionListeners: SubscriptionEventListener[] = [];
  const boundaryHooks: PeriodBoundaryHook[] = [];
  const beforePeriodsHooks: BeforePeriodsHook[] = [];
  const chargeDeps = { events: deps.events };
  const grantDeps = { wallets: deps.wallets };

  async function writeInvoice(tx: Tx, scope: Scope, draft: InvoiceDraft) {
    if (draft.lines.length === 0) return;
    for (const writer of invoiceWriters) await writer(tx, scope, draft);
  }

  async function emitSubscription(tx: Tx, scope: Scope, event: SubscriptionEvent) {
    for (const listener of subscriptionListeners) await listener(tx, scope, event);
  }

  /**
   * One period of one subscription, in its own transaction: claim (FOR UPDATE SKIP LOCKED, still due), invoice the
   * ended period, then end the subscription or move it to the next period and apply the grants due. Returns false
   * when there was nothing (left) to do or another worker holds the subscription, 'last' when it advanced the
   * subscription past its last due period (the caller need not claim it again to find out).
   */
  async function advanceOnePeriod(scope: Scope, subscriptionId: string, now: Date): Promise<boolean | 'last'> {
    return withTransaction(db, async (tx) => {
      const claimed = await repo.claimDueSubscription(tx, scope, subscriptionId, now);
      if (!claimed) return false;
      const endDate = claimed.end_date;
      const ending = endDate !== null && endDate.getTime() <= claimed.current_period_end.getTime();
      const periodEnd = ending ? endDate : claimed.current_period_end;
      let subscription = claimed;
      for (const hook of boundaryHooks)
        subscription = await hook(tx, scope, subscription, { at: periodEnd, ending, now });
      if (periodEnd.getTime() > subscription.current_period_start.getTime()) {
        const draft = await computeSubscriptionCharges(chargeDeps, tx, scope, subscription, {
          period_start: subscription.current_period_start,
          period_end: periodEnd,
          reason: 'SUBSCRIPTION_CYCLE',
        });
        await writeInvoice(tx, scope, draft);
      }
      if (ending) {
        const row = await repo.updateSubscription(tx, scope, subscription.id, {
          subscription_status: 'cancelled',
          cancelled_at: subscription.cancelled_at ?? endDate,
          version: subscription.version + 1,
          updated_at: now,
        });
        await cancelPendingApplications(tx, scope, subscription.id, now);
        await emitSubscription(tx, scope, { type: 'subscription.cancelled', subscription: subscriptionView(row) });
        return 'last';
      }
      const next = nextPeriod(
        subscription.billing_anchor,
        subscription.current_period_end,
        subscription.billing_period as SubscriptionBillingPeriod,
        subscription.billing_period_count,
      );
      const trialOver =
        subscription.subscription_status === 'trialing' &&
        subscription.trial_end !== null &&
        subscription.trial_end.getTime() <= Math.min(now.getTime(), next.periodStart.getTime());
      const row = await repo.updateSubscription(tx, scope, subscription.id, {
        current_period_start: next.periodStart,
        current_period_end: next.periodEnd,
        ...(trialOver ? { subscription_status: 'active' } : {}),
        version: subscription.version + 1,
        updated_at: now,
      });
      await applyDueGrants(grantDeps, tx, scope, row, now);
      const stillDue =
        row.current_period_end.getTime() <= now.getTime() ||
        (row.end_date !== null && row.end_date.getTime() <= now.getTime());
      return stillDue ? true : 'last';
    });
  }

  /** Grant applications due inside a period (grant periods shorter than the subscription's). */
  async function applyDueGrantsOf(scope: Scope, subscriptionId: string, now: Date) {
    await withTransaction(db, async (tx) => {
      const subscription = await tx
        .selectFrom('subscriptions')
        .selectAll()
        .where('tenant_id', '=', scope.tenantId)
        .where('environment_id', '=', scope.environmentId)
        .where('id', '=', subscriptionId)
        .where('subscription_status', 'in', ['active', 'trialing'])
        .forUpdate()
        .skipLocked()
        .executeTakeFirst();
      if (subscription) await applyDueGrants(grantDeps, tx, scope, subscription, now);
    });
  }

  async function usageCharges(
    executor: Executor,
    scope: Scope,
    subscription: repo.SubscriptionRow,
    options: ChargeOptions,
  ) {
    return computeSubscriptionCharges(chargeDeps, executor, scope, subscription, { ...options, usageOnly: true });
  }

  /** §2.12 step 1: current-period usage charges of the customer's live subscriptions in the wallet's currency. */
  const pendingChargesProvider: PendingChargesProvider = async (executor, scope, wallet) => {
    const allowed = wallet.config?.allowed_price_types ?? [];
    if (allowed.length > 0 && !allowed.includes('USAGE') && !allowed.includes('ALL')) return {};
    const subscriptions = await repo.listLiveSubscriptionsOfCustomer(
      executor,
      scope,
      wallet.customer_id,
      wallet.currency,
    );
    let usage: Money = dec(0);
    for (const subscription of subscriptions) {
      const draft = await usageCharges(executor, scope, subscription, {
        period_start: subscription.current_period_start,
        period_end: subscription.current_period_end,
        reason: 'SUBSCRIPTION_CYCLE',
      });
      usage = usage.add(draftTotal(draft));
    }
    return { current_period_usage: usage };
  };

  async function subscriptionOrThrow(executor: Executor, scope: Scope, id: string) {
    const row = await repo.findSubscription(executor, scope, id);
    if (!row) throw notFound('subscription', { id });
    return row;
  }

  async function catchUpTo(scope: Scope, subscriptionId: string, at: Date): Promise<number> {
    let periods = 0;
    while (periods < MAX_PERIODS_PER_RUN && (await advanceOnePeriod(scope, subscriptionId, at))) periods++;
    return periods;
  }

  const service = {
    /** Called in each period's transaction before its invoice (see PeriodBoundaryHook). */
    onPeriodBoundary(hook: PeriodBoundaryHook): void {
      boundaryHooks.push(hook);
    },
    /** Called at the start of each job run (see BeforePeriodsHook). */
    beforePeriods(hook: BeforePeriodsHook): void {
      beforePeriodsHooks.push(hook);
    },
    /** The invoices module's writer (createInvoiceFromDraft), called in the period's transaction. */
    onPeriodInvoice(writer: PeriodInvoiceWriter): void {
      invoiceWriters.push(writer);
    },
    /** subscription.cancelled when the job ends a subscription (end date, scheduled or end-of-period cancel). */
    onSubscriptionEvent(listener: SubscriptionEventListener): void {
      subscriptionListeners.push(listener);
    },
    pendingChargesProvider,

    /**
     * §2.8 `active_subscription`: while an active subscription of the customer has a period the job has not invoiced
     * yet, its credits are kept (that invoice may still need them).
     */
    creditExpiryHold: (async (tx, scope, lot) =>
      (await repo.hasLaggingSubscription(tx, scope, lot.customer_id, clock.now()))
        ? 'active_subscription'
        : null) satisfies ExpiryHold,

    /**
     * Settles a plan change's PRORATION draft in the change's transaction, as the reference does (§6.1): the credit
     * for the unused part of the old plan's fees (the draft's negative lines) goes to the customer's prepaid wallet
     * as SUBSCRIPTION_CREDIT_GRANT ("Proration credit from subscription change"; a 1:1 wallet is created when there
     * is none), and only the charges (positive lines) are invoiced. Returns the invoice written, if any.
     */
    async settleProration(tx: Tx, scope: Scope, draft: InvoiceDraft): Promise<unknown> {
      const credit = roundToCurrency(
        draft.lines.filter((l) => l.amount.lt(0)).reduce((sum, l) => sum.add(l.amount.neg()), dec(0)),
        draft.currency,
      );
      if (credit.gt(0)) {
        await deps.wallets.grantCreditsInTransaction(tx, scope, {
          customer_id: draft.customer_id,
          currency: draft.currency,
          credits: credit,
          conversion_rate: '1',
          topup_conversion_rate: '1',
          idempotency_key: `proration-credit-${draft.idempotency_key ?? newId('walletTransaction')}`,
          description: 'Proration credit from subscription change',
          metadata: { ...(draft.subscription_id ? { subscription_id: draft.subscription_id } : {}), ...draft.metadata },
        });
      }
      const charges = draft.lines.filter((l) => l.amount.gt(0));
      if (charges.length === 0) return undefined;
      let written: unknown;
      for (const writer of invoiceWriters) {
        const result = await writer(tx, scope, { ...draft, lines: charges });
        if (written === undefined) written = result;
      }
      return written;
    },

    /** The invoice draft of a subscription for a period (see charges.ts); reads through `executor`. */
    computeSubscriptionCharges(
      executor: Executor,
      scope: Scope,
      subscriptionId: string,
      options: ChargeOptions,
    ): Promise<InvoiceDraft> {
      return computeSubscriptionCharges(chargeDeps, executor, scope, subscriptionId, options);
    },

    /**
     * The subscription-created (and draft-activated) hook, inside that transaction: copies the plan's credit grants to the
     * subscription, writes the SUBSCRIPTION_CREATE invoice (ADVANCE fixed items of the first period) and applies the
     * grants due now.
     */
    async onSubscriptionCreated(tx: Tx, scope: Scope, event: SubscriptionEvent): Promise<void> {
      // A draft is billed from its activation (with the start date it is activated with), not from its creation.
      if (event.type !== 'subscription.created' && event.type !== 'subscription.activated') return;
      const subscription = await subscriptionOrThrow(tx, scope, event.subscription.id);
      for (const grant of await repo.listGrants(tx, scope, 'plan_id', subscription.plan_id)) {
        await deps.creditGrants.insertCreditGrant(tx, scope, {
          name: grant.name,
          scope: 'SUBSCRIPTION',
          subscription_id: subscription.id,
          credits: grant.credits,
          cadence: grant.cadence,
          ...(grant.period ? { period: grant.period, period_count: grant.period_count ?? 1 } : {}),
          expiration_type: grant.expiration_type,
          ...(grant.expiration_duration ? { expiration_duration: grant.expiration_duration } : {}),
          ...(grant.expiration_duration_unit ? { expiration_duration_unit: grant.expiration_duration_unit } : {}),
          ...(grant.priority !== null ? { priority: grant.priority } : {}),
          ...(grant.conversion_rate ? { conversion_rate: grant.conversion_rate } : {}),
          ...(grant.topup_conversion_rate ? { topup_conversion_rate: grant.topup_conversion_rate } : {}),
          start_date: subscription.start_date.toISOString(),
          metadata: { ...(grant.metadata ?? {}), plan_credit_grant_id: grant.id },
        });
      }
      const draft = await computeSubscriptionCharges(chargeDeps, tx, scope, subscription, {
        period_start: subscription.current_period_start,
        period_end: subscription.current_period_end,
        reason: 'SUBSCRIPTION_CREATE',
      });
      await writeInvoice(tx, scope, draft);
      await applyDueGrants(grantDeps, tx, scope, subscription, clock.now());
    },

    /**
     * The billing job: ends trials that are over, then for up to `limit` due subscriptions invoices each ended period
     * and advances it (one transaction per period), then applies grant applications due inside periods. Safe to run
     * twice and by concurrent workers: a period is invoiced by the transaction that moves the subscription past it.
     */
    async advancePeriods(
      options: { limit?: number } = {},
    ): Promise<{ periods: number; more: boolean; failed: Array<{ subscription_id: string; error: unknown }> }> {
      const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
      const now = clock.now();
      await repo.endTrials(db, now);
      // A subscription whose period fails (its transaction rolled back) is reported and retried next run; it does
      // not hold up the others.
      const failed: Array<{ subscription_id: string; error: unknown }> = [];
      for (const hook of beforePeriodsHooks) failed.push(...(await hook(now, limit, catchUpTo)));
      const due = await repo.listDueSubscriptions(db, now, limit);
      let periods = 0;
      for (const row of due) {
        const scope = { tenantId: row.tenant_id, environmentId: row.environment_id };
        try {
          for (let i = 0; i < MAX_PERIODS_PER_RUN; i++) {
            const advanced = await advanceOnePeriod(scope, row.id, now);
            if (!advanced) break;
            periods++;
            if (advanced === 'last') break;
          }
        } catch (error) {
          failed.push({ subscription_id: row.id, error });
        }
      }
      const grantsDue = await db
        .selectFrom('credit_grant_applications')
        .select(['tenant_id', 'environment_id', 'subscription_id'])
        .distinct()
        .where('application_status', '=', 'pending')
        .where('scheduled_for', '<=', now)
        .limit(limit)
        .execute();
      for (const row of grantsDue) {
        await applyDueGrantsOf(
          { tenantId: row.tenant_id, environmentId: row.environment_id },
          row.subscription_id,
          now,
        );
      }
      return { periods, more: due.length >= limit && periods > 0, failed };
    },

    /** `GET /v1/subscriptions/{id}/grants/upcoming`: the pending applications, soonest first. */
    async upcomingGrants(scope: Scope, subscriptionId: string) {
      await subscriptionOrThrow(db, scope, subscriptionId);
      const rows = await repo.listApplications(db, scope, subscriptionId, { statuses: ['pending'] });
      return { items: rows.map(applicationView), pagination: { total: rows.length, limit: rows.length, offset: 0 } };
    },

    /** Every application of the subscription (tests and support). */
    async listGrantApplications(scope: Scope, subscriptionId: string) {
      return (await repo.listApplications(db, scope, subscriptionId)).map(applicationView);
    },

    /**
     * `POST /v1/subscriptions/usage`: usage charges of the subscription over [start_time, end_time) (default: the
     * current period; lifetime_usage: since the subscription started).
     */
    async subscriptionUsage(scope: Scope, input: SubscriptionUsageInput) {
      if (!input.subscription_id) throw validation('subscription_id is required');
      const subscription = await subscriptionOrThrow(db, scope, input.subscription_id);
      const end = parseTime(input.end_time, 'end_time') ?? subscription.current_period_end;
      const start = input.lifetime_usage
        ? subscription.start_date
        : (parseTime(input.start_time, 'start_time') ?? subscription.current_period_start);
      if (end.getTime() < start.getTime()) throw validation('end_time must not be before start_time');
      const draft = await usageCharges(db, scope, subscription, {
        period_start: start,
        period_end: end,
        reason: 'SUBSCRIPTION_CYCLE',
      });
      const prices = new Map(
        (
          await repo.findPrices(
            db,
            scope,
            draft.lines.flatMap((l) => (l.price_id ? [l.price_id] : [])),
          )
        ).map((p) => [p.id, p]),
      );
      const total = draftTotal(draft);
      return {
        amount: toWire(total),
        currency: subscription.currency,
        display_amount: toWire(total),
        start_time: start.toISOString(),
        end_time: end.toISOString(),
        charges: draft.lines.map((line) => {
          const price = line.price_id ? prices.get(line.price_id) : undefined;
          return {
            amount: toWire(line.amount),
            currency: subscription.currency,
            display_amount: toWire(line.amount),
            quantity: toWire(line.quantity),
            meter_id: line.meter_id ?? '',
            meter_display_name: line.meter_display_name ?? '',
            subscription_line_item_id: line.subscription_line_item_id ?? '',
            filter_values: price?.filter_values ?? {},
            is_overage: false,
            overage_factor: '1',
            ...(price ? { price: priceView(price) } : {}),
          };
        }),
        commitment_amount: '0',
        commitment_utilized: '0',
        has_overage: false,
        overage_amount: '0',
        overage_factor: '1',
      };
    },

    /**
     * The draft an invoice preview renders (writes nothing): the current period's charges as the job would invoice
     * them at its end (or the given period).
     */
    async previewDraft(scope: Scope, input: PreviewInput): Promise<InvoiceDraft> {
      if (!input.subscription_id) throw validation('subscription_id is required');
      const subscription = await subscriptionOrThrow(db, scope, input.subscription_id);
      const start = parseTime(input.period_start, 'period_start') ?? subscription.current_period_start;
      const end = parseTime(input.period_end, 'period_end') ?? subscription.current_period_end;
      if (end.getTime() <= start.getTime()) throw validation('period_end must be after period_start');
      const draft = await computeSubscriptionCharges(chargeDeps, db, scope, subscription, {
        period_start: start,
        period_end: end,
        reason: 'SUBSCRIPTION_CYCLE',
      });
      if (input.hide_zero_charges_line_items) draft.lines = draft.lines.filter((l) => !l.amount.isZero());
      return draft;
    },

    /** `POST /v1/invoices/preview`: the invoice the period would produce, rendered by the invoices module, unwritten. */
    async previewInvoice(scope: Scope, input: PreviewInput) {
      const draft = await service.previewDraft(scope, input);
      return invoiceViewFromDraft(draft, {
        tenantId: scope.tenantId,
        environmentId: scope.environmentId,
        now: clock.now(),
      });
    },
  };
  return service;
}

export type BillingService = ReturnType<typeof createBillingService>;

/** The billing job as a background task (every minute; at once again while subscriptions are still due). */
export function billingPeriodsTask(billing: BillingService): BackgroundTask {
  return {
    name: 'billing.advance-periods',
    intervalMs: 60 * 1000,
    run: async () => {
      const result = await billing.advancePeriods({ limit: 100 });
      // The runner logs a thrown error; the other subscriptions of the batch were still billed.
      if (result.failed.length > 0) {
        throw new AggregateError(
          result.failed.map((f) => f.error),
          `billing: ${result.failed.length} subscription(s) failed: ${result.failed.map((f) => f.subscription_id).join(', ')}`,
        );
      }
      return result.more;
    },
  };
}
