import type { Tx } from '../../platform/db/database.ts';
import type { Scope } from '../../platform/http/context.ts';
import { newId } from '../../platform/ids.ts';
import { columnToWire, dec, type Money } from '../../platform/money.ts';
import { addPeriods, nextPeriod, type SubscriptionBillingPeriod } from '../subscriptions/periods.ts';
import type { WalletsService } from '../wallets/wallets.service.ts';
import * as repo from './billing.repo.ts';

/**
 * Credit grant applications (reference §2.18, §5.6). Every (subscription, grant, grant period) has at most one
 * application row (unique index); the transaction that moves it from `pending` to `applied` (or `skipped`) is the
 * only one that tops up the wallet, with the application id as the wallet idempotency key. A RECURRING grant leaves
 * its next period's application pending; the billing job processes pending applications once they are due.
 */
export type GrantDeps = { wallets: Pick<WalletsService, 'grantCreditsInTransaction'> };

const DURATION_PERIOD: Record<string, SubscriptionBillingPeriod> = {
  DAY: 'DAILY',
  WEEK: 'WEEKLY',
  MONTH: 'MONTHLY',
  YEAR: 'ANNUAL',
};

/** The start of the grant's first period: its own start (SUBSCRIPTION grants), else the subscription's start. */
function grantAnchor(grant: repo.CreditGrantRow, subscription: repo.SubscriptionRow): Date {
  return grant.credit_grant_anchor ?? grant.start_date ?? subscription.start_date;
}

/** The grant period starting at `start`: [start, start + period_count periods) for RECURRING, open for ONETIME. */
function grantPeriodEnd(grant: repo.CreditGrantRow, anchor: Date, start: Date): Date | null {
  if (grant.cadence !== 'RECURRING' || !grant.period) return null;
  const period = grant.period as SubscriptionBillingPeriod;
  return nextPeriod(anchor, start, period, grant.period_count ?? 1).periodEnd;
}

/**
 * End of the subscription period containing `at` (BILLING_CYCLE expiry). For an `at` before the current period (an
 * application processed late, after the clock jumped), the period has ended: the current start stands in for it.
 */
function subscriptionPeriodEndAt(subscription: repo.SubscriptionRow, at: Date): Date {
  if (at.getTime() < subscription.current_period_start.getTime()) return subscription.current_period_start;
  let end = subscription.current_period_end;
  for (let guard = 0; at.getTime() >= end.getTime() && guard < 10_000; guard++) {
    end = nextPeriod(
      subscription.billing_anchor,
      end,
      subscription.billing_period as SubscriptionBillingPeriod,
      subscription.billing_period_count,
    ).periodEnd;
  }
  return end;
}

export function expiryOf(
  grant: repo.CreditGrantRow,
  subscription: repo.SubscriptionRow,
  application: { period_start: Date },
): Date | null {
  if (grant.expiration_type === 'DURATION' && grant.expiration_duration && grant.expiration_duration_unit) {
    const period = DURATION_PERIOD[grant.expiration_duration_unit] ?? 'DAILY';
    return addPeriods(application.period_start, period, grant.expiration_duration);
  }
  if (grant.expiration_type === 'BILLING_CYCLE') return subscriptionPeriodEndAt(subscription, application.period_start);
  return null;
}

function applicationRow(
  scope: Scope,
  grant: repo.CreditGrantRow,
  subscription: repo.SubscriptionRow,
  periodStart: Date,
  now: Date,
  first: boolean,
) {
  const id = newId('creditGrantApplication');
  const anchor = grantAnchor(grant, subscription);
  return {
    id,
    tenant_id: scope.tenantId,
    environment_id: scope.environmentId,
    credit_grant_id: grant.id,
    subscription_id: subscription.id,
    scheduled_for: periodStart,
    period_start: periodStart,
    period_end: grantPeriodEnd(grant, anchor, periodStart),
    applied_at: null,
    application_status: 'pending',
    application_reason:
      grant.cadence === 'ONETIME'
        ? 'onetime_credit_grant'
        : first
          ? 'first_time_recurring_credit_grant'
          : 'recurring_credit_grant',
    subscription_status_at_application: '',
    credits: grant.credits,
    wallet_id: null,
    wallet_transaction_id: null,
    failure_reason: '',
    retry_count: 0,
    idempotency_key: id,
    metadata: '{}',
    status: 'published',
    created_at: now,
    updated_at: now,
    created_by: '',
    updated_by: '',
  };
}

/** Whether a grant period starting at `start` is still within the grant's and the subscription's life. */
function withinLife(grant: repo.CreditGrantRow, subscription: repo.SubscriptionRow, start: Date): boolean {
  if (grant.end_date && start.getTime() >= grant.end_date.getTime()) return false;
  if (subscription.end_date && start.getTime() >= subscription.end_date.getTime()) return false;
  return true;
}

/**
 * Processes one locked pending application: applies the credits (or skips an application already expired), then
 * schedules the next period's application of a RECURRING grant.
 */
async function processApplication(
  deps: GrantDeps,
  tx: Tx,
  scope: Scope,
  application: repo.ApplicationRow,
  grant: repo.CreditGrantRow | undefined,
  subscription: repo.SubscriptionRow,
  now: Date,
): Promise<'applied' | 'skipped' | 'cancelled'> {
  if (!grant || !withinLife(grant, subscription, application.period_start)) {
    await repo.updateApplication(tx, application.id, { application_status: 'cancelled', updated_at: now });
    return 'cancelled';
  }
  const expiry = expiryOf(grant, subscription, application);
  let outcome: 'applied' | 'skipped';
  if (expiry && expiry.getTime() <= now.getTime()) {
    await repo.updateApplication(tx, application.id, {
      application_status: 'skipped',
      failure_reason: 'the credits would already have expired',
      subscription_status_at_application: subscription.subscription_status,
      updated_at: now,
    });
    outcome = 'skipped';
  } else {
    const credits: Money = dec(application.credits);
    const granted = await deps.wallets.grantCreditsInTransaction(tx, scope, {
      customer_id: subscription.customer_id,
      currency: subscription.currency,
      credits,
      conversion_rate: grant.conversion_rate,
      topup_conversion_rate: grant.topup_conversion_rate,
      priority: grant.priority,
      expiry_date: expiry,
      idempotency_key: application.idempotency_key,
      description: `Credit grant: ${grant.name}`,
      metadata: { credit_grant_id: grant.id, subscription_id: subscription.id, application_id: application.id },
    });
    await repo.updateApplication(tx, application.id, {
      application_status: 'applied',
      applied_at: now,
      wallet_id: granted.wallet_id,
      wallet_transaction_id: granted.transaction_id,
      subscription_status_at_application: subscription.subscription_status,
      updated_at: now,
    });
    outcome = 'applied';
  }
  if (
    grant.cadence === 'RECURRING' &&
    application.period_end &&
    withinLife(grant, subscription, application.period_end)
  ) {
    await repo.ensureApplication(tx, applicationRow(scope, grant, subscription, application.period_end, now, false));
  }
  return outcome;
}

/**
 * Schedules the first application of every grant of the subscription that has none yet, and processes every
 * pending application due at `now`. Called at subscription creation and by the billing job in each period's
 * transaction (the subscription row is locked by the caller), so each grant period is applied exactly once.
 */
export async function applyDueGrants(
  deps: GrantDeps,
  tx: Tx,
  scope: Scope,
  subscription: repo.SubscriptionRow,
  now: Date,
): Promise<{ applied: number; skipped: number }> {
  const grants = await repo.listGrants(tx, scope, 'subscription_id', subscription.id);
  const byId = new Map(grants.map((g) => [g.id, g]));
  const existing = await repo.listApplications(tx, scope, subscription.id);
  const seen = new Set(existing.map((a) => a.credit_grant_id));
  let ensured = 0;
  for (const grant of grants) {
    if (seen.has(grant.id)) continue;
    const start = grantAnchor(grant, subscription);
    if (!withinLife(grant, subscription, start)) continue;
    await repo.ensureApplication(tx, applicationRow(scope, grant, subscription, start, now, true));
    ensured++;
  }
  let applied = 0;
  let skipped = 0;
  // Bounded: a recurring grant schedules one next application per processed one; the loop stops at `now`.
  for (let round = 0; round < 1000; round++) {
    // The first round's pending applications are the ones just read when none was added since (the billing job's
    // common case: no grant, or none due).
    const pending =
      round === 0 && ensured === 0
        ? existing.filter((a) => a.application_status === 'pending')
        : await repo.listApplications(tx, scope, subscription.id, { statuses: ['pending'] });
    const due = pending.filter((a) => a.scheduled_for.getTime() <= now.getTime());
    if (due.length === 0) break;
    for (const application of due) {
      const outcome = await processApplication(
        deps,
        tx,
        scope,
        application,
        byId.get(application.credit_grant_id),
        subscription,
        now,
      );
      if (outcome === 'applied') applied++;
      else if (outcome === 'skipped') skipped++;
    }
  }
  return { applied, skipped };
}

/** Pending applications of an ended subscription will never apply. */
export async function cancelPendingApplications(tx: Tx, scope: Scope, subscriptionId: string, now: Date) {
  await tx
    .updateTable('credit_grant_applications')
    .set({ application_status: 'cancelled', updated_at: now })
    .where('tenant_id', '=', scope.tenantId)
    .where('environment_id', '=', scope.environmentId)
    .where('subscription_id', '=', subscriptionId)
    .where('application_status', '=', 'pending')
    .execute();
}

export function applicationView(row: repo.ApplicationRow) {
  return {
    id: row.id,
    credit_grant_id: row.credit_grant_id,
    subscription_id: row.subscription_id,
    scheduled_for: row.scheduled_for.toISOString(),
    period_start: row.period_start.toISOString(),
    period_end: row.period_end ? row.period_end.toISOString() : '',
    applied_at: row.applied_at ? row.applied_at.toISOString() : '',
    application_status: row.application_status,
    application_reason: row.application_reason,
    subscription_status_at_application: row.subscription_status_at_application,
    credits: columnToWire(row.credits),
    failure_reason: row.failure_reason,
    retry_count: row.retry_count,
    idempotency_key: row.idempotency_key,
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
