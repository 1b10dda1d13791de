import type { Executor } from '../../platform/db/database.ts';
import type { Scope } from '../../platform/http/context.ts';
import { Dec, type Money } from '../../platform/money.ts';
import type { WalletRow } from './wallets.repo.ts';

/**
 * What a customer owes that the wallet has not been debited for yet, in the wallet's currency:
 * `current_period_usage` (usage charges of the open billing periods) and `unpaid_invoices_amount`.
 */
export interface PendingCharges {
  current_period_usage: Money;
  unpaid_invoices_amount: Money;
}

/**
 * One source of pending charges. Usage (subscriptions + metering) and unpaid invoices arrive with later issues;
 * each registers a provider, and the real-time balance subtracts the sum of all of them. A provider reads through
 * the executor it is given (the caller's transaction when there is one) and never writes.
 */
export type PendingChargesProvider = (
  db: Executor,
  scope: Scope,
  wallet: WalletRow,
) => Promise<Partial<PendingCharges>>;

export function createPendingChargesRegistry() {
  const providers: PendingChargesProvider[] = [];
  return {
    register(provider: PendingChargesProvider): void {
      providers.push(provider);
    },
    /**
     * The one function the real-time balance uses. With no provider registered (today: no usage billing and no
     * invoices yet) every wallet has zero pending charges, so real_time_balance equals balance.
     */
    async computePendingCharges(db: Executor, scope: Scope, wallet: WalletRow): Promise<PendingCharges> {
      let usage: Money = new Dec(0);
      let unpaid: Money = new Dec(0);
      for (const provider of providers) {
        const part = await provider(db, scope, wallet);
        if (part.current_period_usage) usage = usage.plus(part.current_period_usage);
        if (part.unpaid_invoices_amount) unpaid = unpaid.plus(part.unpaid_invoices_amount);
      }
      return { current_period_usage: usage, unpaid_invoices_amount: unpaid };
    },
  };
}

export type PendingChargesRegistry = ReturnType<typeof createPendingChargesRegistry>;
