import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyServerOptions } from 'fastify';
import { sql } from 'kysely';
import { registerBillingRoutes } from './modules/billing/billing.routes.ts';
import { billingPeriodsTask, createBillingService } from './modules/billing/billing.service.ts';
import { createCatalogServices, registerCatalogRoutes } from './modules/catalog/catalog.ts';
import { registerCustomerRoutes } from './modules/customers/customers.routes.ts';
import { createCustomersService } from './modules/customers/customers.service.ts';
import { registerEventRoutes } from './modules/events/events.routes.ts';
import { createEventsService } from './modules/events/events.service.ts';
import { registerInvoiceRoutes } from './modules/invoices/invoices.routes.ts';
import { createInvoicesService } from './modules/invoices/invoices.service.ts';
import { registerSubscriptionRoutes } from './modules/subscriptions/subscriptions.routes.ts';
import { createSubscriptionsService, renewalDueTask } from './modules/subscriptions/subscriptions.service.ts';
import { registerAnalyticsRoutes } from './modules/events/analytics.routes.ts';
import { createAnalyticsService } from './modules/events/analytics.service.ts';
import { registerUsageSummaryRoutes } from './modules/subscriptions/usage-summary.routes.ts';
import { createUsageSummaryService } from './modules/subscriptions/usage-summary.service.ts';
import { registerTenancyRoutes } from './modules/tenancy/tenancy.routes.ts';
import { createTenancyService } from './modules/tenancy/tenancy.service.ts';
import { registerWalletRoutes } from './modules/wallets/wallets.routes.ts';
import { createWalletsService, walletExpiryTask } from './modules/wallets/wallets.service.ts';
import { findRowByColumn } from './modules/catalog/catalog.repo.ts';
import {
  catalogEventEmitters,
  customerChangeEmitter,
  invoiceEventEmitter,
  paymentEventEmitter,
  subscriptionEventEmitter,
  walletEventEmitter,
} from './modules/webhooks/emitters.ts';
import { registerWebhookRoutes } from './modules/webhooks/webhooks.routes.ts';
import { createWebhooksService, type WebhooksOptions } from './modules/webhooks/webhooks.service.ts';
import type { BackgroundTask } from './platform/background/runner.ts';
import type { Clock } from './platform/clock.ts';
import type { DatabaseHandle } from './platform/db/database.ts';
import { errorEnvelope } from './platform/errors.ts';
import type { App } from './platform/http/app-types.ts';
import { installAuth } from './platform/http/auth.ts';
import { installErrorHandling } from './platform/http/errors.ts';
import { installIdempotency, purgeExpiredIdempotencyKeys } from './platform/http/idempotency.ts';
import { installSchemaCompilers, type SchemaCompilers } from './platform/http/schema-compilers.ts';
import { newUlid } from './platform/ids.ts';

export interface AppOptions {
  database: DatabaseHandle;
  clock: Clock;
  logger?: FastifyServerOptions['logger'];
  bodyLimitBytes?: number;
  corsOrigins?: string[];
  webhooks?: WebhooksOptions;
}

/** All services of the product, built once and shared by routes, jobs, tests and benchmarks. */
export function createServices(
  database: DatabaseHandle,
  clock: Clock,
  options: { webhooks?: WebhooksOptions | undefined } = {},
) {
  const { db } = database;
  const tenancy = createTenancyService({ db, clock });
  const customers = createCustomersService({ db, clock });
  const catalog = createCatalogServices({ db, clock });
  const events = createEventsService({ db, clock, customers, meters: catalog.meters });
  const idempotency = {
    /** Deletes up to `batch` stored responses past their 24 h retention; returns how many. */
    purgeExpired: (batch = 1000) => purgeExpiredIdempotencyKeys(db, clock.now(), batch),
  };
  const wallets = createWalletsService({
    db,
    clock,
    customers,
    // The embedded engine's one connection runs one transaction at a time. On PostgreSQL two batches overlap one's
    // round trips with the other's work, and a batch waiting on a row lock held elsewhere does not stop the rest
    // (measured at 64 clients over 1,000 wallets: 1, 2 and 4 at once gave the same throughput within noise, with
    // PostgreSQL's CPU per write lowest at 1 and 2).
    ledgerBatches: {
      maxRunning: database.engine === 'pglite' ? 1 : 2,
      genericLockPlan: database.engine === 'pglite',
    },
  });
  customers.addDeletionGuard(wallets.activeWalletGuard);
  const webhooks = createWebhooksService({
    db,
    clock,
    singleWriter: database.engine === 'pglite',
    ...(options.webhooks ? { options: options.webhooks } : {}),
  });
  customers.onChange(customerChangeEmitter(webhooks.outbox));
  wallets.onEvent(walletEventEmitter(webhooks.outbox, customers));
  const catalogEmitters = catalogEventEmitters(webhooks.outbox);
  catalog.features.onEvent(catalogEmitters.features);
  catalog.entitlements.onEvent(catalogEmitters.entitlements);
  // A wallet in a custom price unit takes the unit's base currency and conversion rate.
  wallets.setPriceUnitResolver(async (tx, scope, code) => {
    const unit = await findRowByColumn(tx, 'price_units', scope, 'code', code.toLowerCase());
    return unit ? { currency: unit.base_currency, conversion_rate: unit.conversion_rate } : null;
  });
  const subscriptions = createSubscriptionsService({
    db,
    clock,
    customers,
    prices: catalog.prices,
    creditGrants: catalog.creditGrants,
    entitlements: catalog.entitlements,
  });
  catalog.registerEntityCheck('SUBSCRIPTION', subscriptions.exists);
  catalog.plans.addDeletionGuard(subscriptions.planDeletionGuard);
  customers.addDeletionGuard(subscriptions.customerDeletionGuard);
  subscriptions.onEvent(subscriptionEventEmitter(webhooks.outbox, customers));
  catalog.addons.addDeletionGuard(subscriptions.addonDeletionGuard);
  const analytics = createAnalyticsService({
    db,
    clock,
    customers,
    features: catalog.features,
    prices: catalog.prices,
    subscriptions,
  });
  const usageSummary = createUsageSummaryService({ db, clock, events });
  const invoices = createInvoicesService({ db, clock, customers, wallets });
  invoices.onEvent(invoiceEventEmitter(webhooks.outbox, customers));
  invoices.onPaymentEvent(paymentEventEmitter(webhooks.outbox));
  // A PURCHASED_CREDIT_INVOICED top-up raises its invoice in the top-up's transaction; unpaid invoices lower the
  // real-time balance of prepaid wallets.
  wallets.onInvoicedTopUp((tx, scope, topUp) => invoices.createTopUpInvoice(tx, scope, topUp));
  wallets.registerPendingChargesProvider(invoices.unpaidInvoicesProvider);
  const billing = createBillingService({ db, clock, events, wallets, creditGrants: catalog.creditGrants });
  // The billing job and subscription creation write their invoices through the invoices module (idempotent by key).
  billing.onPeriodInvoice((tx, scope, draft) => invoices.createInvoiceFromDraft(tx, scope, draft));
  // Plan grants, the creation invoice and the first grant applications join the subscription's create transaction.
  subscriptions.onEvent(billing.onSubscriptionCreated);
  billing.onSubscriptionEvent(subscriptionEventEmitter(webhooks.outbox, customers));
  wallets.registerPendingChargesProvider(billing.pendingChargesProvider);
  // The reference's expiry skip rules (§2.8): billing lagging, an unpaid invoice of the credits' period.
  wallets.registerExpiryHold(billing.creditExpiryHold);
  wallets.registerExpiryHold(invoices.creditExpiryHold);
  // A plan change's proration is settled in the change's transaction: credit to the wallet, charges invoiced.
  subscriptions.onProrationInvoice((tx, scope, draft) => billing.settleProration(tx, scope, draft));
  // Scheduled pauses start and pauses with an end resume as the job runs; scheduled plan changes apply at the boundary.
  billing.beforePeriods((now, limit, catchUpTo) => subscriptions.applyDuePauses(now, limit, catchUpTo));
  billing.onPeriodBoundary((tx, scope, subscription, boundary) =>
    subscriptions.applyScheduledChange(tx, scope, subscription, boundary),
  );
  return {
    tenancy,
    customers,
    events,
    idempotency,
    wallets,
    webhooks,
    catalog,
    subscriptions,
    analytics,
    usageSummary,
    invoices,
    billing,
  };
}
export type Services = ReturnType<typeof createServices>;

/** Periodic work of every module; main.ts runs these, tests call the service functions directly. */
export function backgroundTasks(
  services: Services,
  options: {
    invoiceFinalizationDelaySeconds?: number;
    walletExpiryGraceSeconds?: number;
    renewalDueLeadHours?: number;
  } = {},
): BackgroundTask[] {
  const purgeBatch = 1000;
  return [
    {
      // Expired keys are otherwise only removed when their key is reused, so the table would grow forever.
      name: 'idempotency-keys.purge',
      intervalMs: 10 * 60 * 1000,
      run: async () => (await services.idempotency.purgeExpired(purgeBatch)) >= purgeBatch,
    },
    walletExpiryTask(services.wallets, {
      ...(options.walletExpiryGraceSeconds !== undefined ? { graceSeconds: options.walletExpiryGraceSeconds } : {}),
    }),
    services.webhooks.delivery.task,
    billingPeriodsTask(services.billing),
    {
      // Subscription drafts are finalized (wallets pay them) once the correction window has passed.
      name: 'invoices.finalize-drafts',
      intervalMs: 60_000,
      run: async () =>
        (
          await services.invoices.finalizeDueDrafts({
            delaySeconds: options.invoiceFinalizationDelaySeconds ?? 7200,
          })
        ).more,
    },
    renewalDueTask(services.subscriptions, {
      ...(options.renewalDueLeadHours !== undefined ? { leadHours: options.renewalDueLeadHours } : {}),
    }),
    {
      // invoice.payment.overdue once per invoice whose due date passed unpaid.
      name: 'invoices.notify-overdue',
      intervalMs: 60_000,
      run: async () => (await services.invoices.notifyOverdueInvoices({ limit: 100 })).more,
    },
  ];
}

function requestIdFrom(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value && /^[\w.:-]{1,128}$/.test(value) ? value : newUlid();
}

export async function buildApp(
  options: AppOptions,
): Promise<{ app: App; services: Services; schemas: SchemaCompilers }> {
  const { database, clock } = options;
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimitBytes ?? 1024 * 1024,
    genReqId: (req) => requestIdFrom(req.headers['x-request-id']),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Keep-alive connections that were busy when close() began stay open after their last response until the
  // keep-alive timeout (72 s in Fastify) and hold a stopping process that long; close each one as soon as it is idle.
  let idleSweep: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    idleSweep = setInterval(() => app.server.closeIdleConnections(), 50);
    idleSweep.unref();
  });
  app.addHook('onClose', async () => clearInterval(idleSweep));

  const schemas = installSchemaCompilers(app);
  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-request-id', request.id);
    return payload;
  });

  if (options.corsOrigins && options.corsOrigins.length > 0) {
    await app.register(cors, { origin: options.corsOrigins });
  }

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Tally API',
        version: '0.1.0',
        description: 'Usage-based billing engine speaking the Flexprice API.',
      },
      components: { securitySchemes: { ApiKeyAuth: { type: 'apiKey', name: 'x-api-key', in: 'header' } } },
      security: [{ ApiKeyAuth: [] }],
    },
  });
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/docs')) route.config = { ...(route.config ?? {}), public: true };
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });

  installErrorHandling(app);
  const services = createServices(database, clock, { webhooks: options.webhooks });
  installAuth(app, (key) => services.tenancy.authenticate(key));
  installIdempotency(app, { db: database.db, clock });

  app.get('/health', { config: { public: true }, schema: { hide: true } }, async (_request, reply) => {
    try {
      await sql`select 1`.execute(database.db);
      return { status: 'ok' };
    } catch {
      return reply.status(503).send(errorEnvelope('service_unavailable', 'database unavailable'));
    }
  });
  app.get('/v1/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());

  registerTenancyRoutes(app, services.tenancy);
  registerCustomerRoutes(app, services.customers);
  registerEventRoutes(app, services.events);
  registerWalletRoutes(app, services.wallets);
  registerWebhookRoutes(app, services.webhooks);
  registerCatalogRoutes(app, services.catalog);
  registerSubscriptionRoutes(app, services.subscriptions);
  registerAnalyticsRoutes(app, services.analytics);
  registerUsageSummaryRoutes(app, services.usageSummary);
  registerInvoiceRoutes(app, services.invoices);
  registerBillingRoutes(app, services.billing);

  await app.ready();
  return { app, services, schemas };
}
