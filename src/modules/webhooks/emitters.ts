import type { EntitlementEvent } from '../catalog/entitlements.service.ts';
import type { FeatureEvent } from '../catalog/features.service.ts';
import type { CustomerChangeListener, CustomersService } from '../customers/customers.service.ts';
import type { InvoiceEventListener, PaymentEventListener } from '../invoices/invoices.service.ts';
import type { SubscriptionEventListener } from '../subscriptions/subscriptions.service.ts';
import type { WalletEventListener } from '../wallets/wallets.service.ts';
import type { Tx } from '../../platform/db/database.ts';
import type { Scope } from '../../platform/http/context.ts';
import type { Outbox } from './outbox.ts';

/**
 * The listeners createServices subscribes to other modules' change hooks: each turns a domain event into its webhook
 * event, in the transaction of the change.
 */
export function customerChangeEmitter(outbox: Outbox): CustomerChangeListener {
  return async (tx, scope, change) => {
    await outbox.enqueue(tx, scope, `customer.${change.type}`, change.customer);
  };
}

export function walletEventEmitter(outbox: Outbox, customers: Pick<CustomersService, 'findCustomerInTransaction'>) {
  const listener: WalletEventListener = async (tx, scope, event) => {
    switch (event.type) {
      case 'wallet.transaction.created':
      case 'wallet.transaction.updated':
        await outbox.enqueue(tx, scope, event.type, { transaction: event.transaction });
        return;
      case 'wallet.created':
      case 'wallet.updated':
      case 'wallet.terminated':
        await outbox.enqueue(tx, scope, event.type, async () => ({
          wallet: event.wallet,
          customer: await customers.findCustomerInTransaction(tx, scope, event.wallet.customer_id),
        }));
        return;
      default:
        await outbox.enqueue(tx, scope, event.type, async () => ({
          wallet: event.wallet,
          customer: await customers.findCustomerInTransaction(tx, scope, event.wallet.customer_id),
          alert: event.alert,
        }));
    }
  };
  return listener;
}

/** Features and entitlements: the view the catalog hands over is the documented payload entity. */
export function catalogEventEmitters(outbox: Outbox) {
  return {
    features: (async (tx, scope, event) => {
      await outbox.enqueue(tx, scope, event.type, { feature: event.feature });
    }) satisfies (...args: [Tx, Scope, FeatureEvent]) => Promise<void>,
    entitlements: (async (tx, scope, event) => {
      await outbox.enqueue(tx, scope, event.type, { entitlement: event.entitlement });
    }) satisfies (...args: [Tx, Scope, EntitlementEvent]) => Promise<void>,
  };
}

export function subscriptionEventEmitter(
  outbox: Outbox,
  customers: Pick<CustomersService, 'findCustomerInTransaction'>,
): SubscriptionEventListener {
  return async (tx, scope, event) => {
    await outbox.enqueue(tx, scope, event.type, async () => ({
      subscription: event.subscription,
      customer: await customers.findCustomerInTransaction(tx, scope, event.subscription.customer_id),
    }));
  };
}

/** Invoice events: the invoice view with its customer as seen in the change's transaction. */
export function invoiceEventEmitter(
  outbox: Outbox,
  customers: Pick<CustomersService, 'findCustomerInTransaction'>,
): InvoiceEventListener {
  return async (tx, scope, event) => {
    await outbox.enqueue(tx, scope, event.type, async () => ({
      invoice: event.invoice,
      customer: await customers.findCustomerInTransaction(tx, scope, event.invoice.customer_id),
    }));
  };
}

/** Payment events: the payment view the invoices module hands over. */
export function paymentEventEmitter(outbox: Outbox): PaymentEventListener {
  return async (tx, scope, event) => {
    await outbox.enqueue(tx, scope, event.type, { payment: event.payment });
  };
}
