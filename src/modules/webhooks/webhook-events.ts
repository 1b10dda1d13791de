import type { EntitlementView } from '../catalog/catalog.views.ts';
import type { FeatureView } from '../catalog/features.service.ts';
import type { CustomerView } from '../customers/customers.service.ts';
import type { InvoiceView } from '../invoices/invoices.views.ts';
import type { PaymentView } from '../invoices/payments.views.ts';
import type { SubscriptionView } from '../subscriptions/subscriptions.service.ts';
import type { WalletAlertView, WalletTransactionView, WalletView } from '../wallets/wallets.service.ts';

/**
 * The one list of webhook event types.
 *
 * - `WEBHOOK_EVENT_NAMES`: every event the reference documents (its `types.WebhookEventName` enum and its
 *   `/webhook-events/<event>` entries). Endpoints may subscribe to any of them, including events a later module
 *   starts emitting.
 * - `WEBHOOK_EVENTS`: the events Tally emits today, each with its payload builder and the reference schema its
 *   payload must match (tests validate every entry against `flexprice-openapi.json`). A module that starts emitting
 *   an event adds its entry here and calls `enqueue` with the builder's input inside its own transaction.
 */
export const WEBHOOK_EVENT_NAMES = [
  'checkout.session.completed',
  'checkout.session.expired',
  'checkout.session.failed',
  'checkout.session.initiated',
  'credit_note.created',
  'credit_note.updated',
  'customer.created',
  'customer.deleted',
  'customer.updated',
  'entitlement.created',
  'entitlement.deleted',
  'entitlement.grant.exhausted',
  'entitlement.updated',
  'event.rejected',
  'feature.created',
  'feature.deleted',
  'feature.updated',
  'feature.wallet_balance.alert',
  'invoice.communication.triggered',
  'invoice.create.drafted',
  'invoice.payment.overdue',
  'invoice.update',
  'invoice.update.finalized',
  'invoice.update.payment',
  'invoice.update.voided',
  'payment.created',
  'payment.failed',
  'payment.pending',
  'payment.success',
  'payment.updated',
  'subscription.activated',
  'subscription.cancelled',
  'subscription.created',
  'subscription.draft.created',
  'subscription.group_spend.threshold_reached',
  'subscription.group_spend.threshold_recovered',
  'subscription.line_item_spend.threshold_reached',
  'subscription.line_item_spend.threshold_recovered',
  'subscription.paused',
  'subscription.phase.created',
  'subscription.phase.deleted',
  'subscription.phase.updated',
  'subscription.plan_changed',
  'subscription.renewal.due',
  'subscription.resumed',
  'subscription.spend.threshold_reached',
  'subscription.spend.threshold_recovered',
  'subscription.updated',
  'wallet.created',
  'wallet.credit_balance.dropped',
  'wallet.credit_balance.recovered',
  'wallet.ongoing_balance.dropped',
  'wallet.ongoing_balance.recovered',
  'wallet.ongoing_balance.updated',
  'wallet.terminated',
  'wallet.transaction.created',
  'wallet.transaction.updated',
  'wallet.updated',
] as const;

export type WebhookEventName = (typeof WEBHOOK_EVENT_NAMES)[number];

export function isWebhookEventName(name: string): name is WebhookEventName {
  return (WEBHOOK_EVENT_NAMES as readonly string[]).includes(name);
}

interface EventDefinition<Input> {
  /** The payload's schema in the reference: `#/components/schemas/<schema>` of flexprice-openapi.json. */
  schema: string;
  /** The payload without `event_type` (added by renderPayload, first). */
  build(input: Input): Record<string, unknown>;
}

function define<Input>(definition: EventDefinition<Input>): EventDefinition<Input> {
  return definition;
}

/** `webhookDto.Customer`: the customer fields the reference sends (no status, no audit fields). */
function customerPayload(customer: CustomerView) {
  return {
    id: customer.id,
    external_id: customer.external_id,
    environment_id: customer.environment_id,
    name: customer.name,
    email: customer.email,
    address_line1: customer.address_line1,
    address_line2: customer.address_line2,
    address_city: customer.address_city,
    address_state: customer.address_state,
    address_postal_code: customer.address_postal_code,
    address_country: customer.address_country,
    timezone: customer.timezone,
    metadata: customer.metadata,
  };
}

const customerEvent = define<CustomerView>({
  schema: 'webhookDto.CustomerWebhookPayload',
  build: (customer) => ({ customer: customerPayload(customer) }),
});

/**
 * A decimal the reference documents as a JSON number. It is written as a number token with exactly the decimal's
 * digits (never through a float), by renderPayload.
 */
class JsonNumber {
  readonly digits: string;
  constructor(decimal: string) {
    if (!/^-?\d+(\.\d+)?$/.test(decimal)) throw new Error(`not a decimal: ${decimal}`);
    this.digits = decimal;
  }
  toJSON() {
    return `${NUMBER_MARK}${this.digits}${NUMBER_MARK}`;
  }
}
const NUMBER_MARK = '\u0000#';
const NUMBER_TOKEN = /"\\u0000#(-?\d+(?:\.\d+)?)\\u0000#"/g;

/** The wallet as `WalletResponse`; auto_topup amounts are numbers there. */
function walletPayload(wallet: WalletView) {
  const { auto_topup: autoTopUp, ...rest } = wallet;
  return {
    ...rest,
    ...(autoTopUp
      ? {
          auto_topup: {
            ...autoTopUp,
            threshold: new JsonNumber(autoTopUp.threshold),
            amount: new JsonNumber(autoTopUp.amount),
          },
        }
      : {}),
  };
}

/** `webhookDto.WalletAlertInfo`: balances as numbers. */
function alertPayload(alert: WalletAlertView) {
  return {
    state: alert.state,
    current_balance: new JsonNumber(alert.current_balance),
    credit_balance: new JsonNumber(alert.credit_balance),
    alert_type: alert.alert_type,
    alert_settings: alert.alert_settings,
  };
}

/** `webhookDto.WalletTransaction`: the documented subset of the transaction. */
function transactionPayload(transaction: WalletTransactionView) {
  return {
    id: transaction.id,
    wallet_id: transaction.wallet_id,
    customer_id: transaction.customer_id,
    type: transaction.type,
    amount: transaction.amount,
    credit_amount: transaction.credit_amount,
    credit_balance_before: transaction.credit_balance_before,
    credit_balance_after: transaction.credit_balance_after,
    transaction_status: transaction.transaction_status,
    reference_type: transaction.reference_type,
    reference_id: transaction.reference_id,
    description: transaction.description,
    ...(transaction.expiry_date ? { expiry_date: transaction.expiry_date } : {}),
    transaction_reason: transaction.transaction_reason,
    currency: transaction.currency,
    metadata: transaction.metadata,
  };
}

/** Wallet events embed the wallet and its customer (as `webhook-wallet.*` documents), alert events the alert too. */
const walletEvent = define<{ wallet: WalletView; customer?: CustomerView | undefined }>({
  schema: 'webhookDto.WalletWebhookPayload',
  build: ({ wallet, customer }) => ({ wallet: walletPayload(wallet), ...(customer ? { customer } : {}) }),
});

const walletAlertEvent = define<{ wallet: WalletView; customer?: CustomerView | undefined; alert: WalletAlertView }>({
  schema: 'webhookDto.WalletWebhookPayload',
  build: ({ wallet, customer, alert }) => ({
    wallet: walletPayload(wallet),
    ...(customer ? { customer } : {}),
    alert: alertPayload(alert),
  }),
});

/** The documented `MeterResponse` fields of a meter (the API's meter adds environment and audit fields). */
const METER_FIELDS = ['id', 'name', 'event_name', 'aggregation', 'filters', 'reset_usage', 'status', 'tenant_id'];
const METER_TIMESTAMPS = ['created_at', 'updated_at'];
function documentedMeter(meter: unknown): unknown {
  if (!meter || typeof meter !== 'object') return meter;
  const source = meter as Record<string, unknown>;
  return Object.fromEntries(
    [...METER_FIELDS, ...METER_TIMESTAMPS].filter((key) => key in source).map((key) => [key, source[key]]),
  );
}

/** Every `meter` object nested anywhere in a catalog entity, reduced to its documented fields. */
function withDocumentedMeters<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withDocumentedMeters) as T;
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([key, inner]) => [
      key,
      key === 'meter' ? documentedMeter(inner) : withDocumentedMeters(inner),
    ]),
  ) as T;
}

/** Catalog events carry the feature, or the entitlement nested as the entitlement.created page shows. */
const featureEvent = define<{ feature: FeatureView }>({
  schema: 'webhookDto.FeatureWebhookPayload',
  build: ({ feature }) => ({ feature: withDocumentedMeters(feature) }),
});
const entitlementEvent = define<{ entitlement: EntitlementView }>({
  schema: 'webhookDto.EntitlementWebhookPayload',
  build: ({ entitlement }) => ({ entitlement: withDocumentedMeters(entitlement) }),
});

/** `webhookDto.Subscription`: the documented subset of the subscription, with its customer. */
function subscriptionPayload(subscription: SubscriptionView, customer: CustomerView | undefined) {
  const s = subscription;
  return {
    id: s.id,
    lookup_key: s.lookup_key,
    customer_id: s.customer_id,
    ...(customer ? { customer: customerPayload(customer) } : {}),
    plan_id: s.plan_id,
    subscription_type: s.subscription_type,
    subscription_status: s.subscription_status,
    currency: s.currency,
    billing_cadence: s.billing_cadence,
    billing_period: s.billing_period,
    billing_period_count: s.billing_period_count,
    start_date: s.start_date,
    ...(s.end_date ? { end_date: s.end_date } : {}),
    current_period_start: s.current_period_start,
    current_period_end: s.current_period_end,
    ...(s.cancelled_at ? { cancelled_at: s.cancelled_at } : {}),
    ...(s.cancel_at ? { cancel_at: s.cancel_at } : {}),
    cancel_at_period_end: s.cancel_at_period_end,
    ...(s.trial_start ? { trial_start: s.trial_start } : {}),
    ...(s.trial_end ? { trial_end: s.trial_end } : {}),
    pause_status: s.pause_status,
    metadata: s.metadata,
  };
}

const subscriptionEvent = define<{ subscription: SubscriptionView; customer?: CustomerView | undefined }>({
  schema: 'webhookDto.SubscriptionWebhookPayload',
  build: ({ subscription, customer }) => ({ subscription: subscriptionPayload(subscription, customer) }),
});

/** Invoice events carry the InvoiceResponse (with its line items and customer), as `webhookDto.InvoiceWebhookPayload`. */
const invoiceEvent = define<{ invoice: InvoiceView; customer?: CustomerView | undefined }>({
  schema: 'webhookDto.InvoiceWebhookPayload',
  build: ({ invoice, customer }) => ({ invoice: customer ? { ...invoice, customer } : invoice }),
});

/** `webhookDto.Payment`: the documented subset of the payment. */
function paymentPayload(payment: PaymentView) {
  const p = payment;
  return {
    id: p.id,
    amount: p.amount,
    currency: p.currency,
    destination_id: p.destination_id,
    destination_type: p.destination_type,
    payment_method_type: p.payment_method_type,
    payment_status: p.payment_status,
    ...(p.payment_gateway ? { payment_gateway: p.payment_gateway } : {}),
    ...(p.invoice_number ? { invoice_number: p.invoice_number } : {}),
    ...(p.error_message ? { error_message: p.error_message } : {}),
    ...(p.succeeded_at ? { succeeded_at: p.succeeded_at } : {}),
    ...(p.failed_at ? { failed_at: p.failed_at } : {}),
    ...(p.refunded_at ? { refunded_at: p.refunded_at } : {}),
    ...(p.voided_at ? { voided_at: p.voided_at } : {}),
  };
}

const paymentEvent = define<{ payment: PaymentView }>({
  schema: 'webhookDto.PaymentWebhookPayload',
  build: ({ payment }) => ({ payment: paymentPayload(payment) }),
});

export const WEBHOOK_EVENTS = {
  'customer.created': customerEvent,
  'customer.updated': customerEvent,
  'customer.deleted': customerEvent,
  'wallet.created': walletEvent,
  'wallet.updated': walletEvent,
  'wallet.terminated': walletEvent,
  'wallet.transaction.created': define<{ transaction: WalletTransactionView }>({
    schema: 'webhookDto.TransactionWebhookPayload',
    build: ({ transaction }) => ({ transaction: transactionPayload(transaction) }),
  }),
  'wallet.transaction.updated': define<{ transaction: WalletTransactionView }>({
    schema: 'webhookDto.TransactionUpdatedWebhookPayload',
    build: ({ transaction }) => ({ updated_transaction: transactionPayload(transaction) }),
  }),
  'wallet.credit_balance.dropped': walletAlertEvent,
  'wallet.credit_balance.recovered': walletAlertEvent,
  'wallet.ongoing_balance.dropped': walletAlertEvent,
  'wallet.ongoing_balance.recovered': walletAlertEvent,
  'feature.created': featureEvent,
  'feature.updated': featureEvent,
  'feature.deleted': featureEvent,
  'entitlement.created': entitlementEvent,
  'entitlement.updated': entitlementEvent,
  'entitlement.deleted': entitlementEvent,
  'subscription.created': subscriptionEvent,
  'subscription.cancelled': subscriptionEvent,
  'subscription.updated': subscriptionEvent,
  'subscription.draft.created': subscriptionEvent,
  'subscription.activated': subscriptionEvent,
  'subscription.paused': subscriptionEvent,
  'subscription.resumed': subscriptionEvent,
  'subscription.plan_changed': subscriptionEvent,
  'subscription.renewal.due': subscriptionEvent,
  'invoice.create.drafted': invoiceEvent,
  'invoice.update.finalized': invoiceEvent,
  'invoice.update.payment': invoiceEvent,
  'invoice.update.voided': invoiceEvent,
  'invoice.update': invoiceEvent,
  'invoice.payment.overdue': invoiceEvent,
  'payment.created': paymentEvent,
  'payment.updated': paymentEvent,
  'payment.success': paymentEvent,
  'payment.failed': paymentEvent,
  'payment.pending': paymentEvent,
} satisfies Partial<Record<WebhookEventName, EventDefinition<never>>>;

export type EmittedEventType = keyof typeof WEBHOOK_EVENTS;
export type EventInput<K extends EmittedEventType> = Parameters<(typeof WEBHOOK_EVENTS)[K]['build']>[0];

/** The exact JSON body of an event: `event_type` first, then the documented entity keys. */
export function renderPayload<K extends EmittedEventType>(type: K, input: EventInput<K>): string {
  const definition = WEBHOOK_EVENTS[type] as EventDefinition<EventInput<K>>;
  return JSON.stringify({ event_type: type, ...definition.build(input) }).replace(NUMBER_TOKEN, '$1');
}
