import type { App } from '../../platform/http/app-types.ts';
import { ErrorResponse, IdParams } from '../../platform/http/schemas.ts';
import { InvoiceResponse } from '../invoices/invoices.schemas.ts';
import {
  CreditGrantApplicationList,
  PreviewInvoiceRequest,
  SubscriptionUsageRequest,
  SubscriptionUsageResponse,
} from './billing.schemas.ts';
import type { BillingService } from './billing.service.ts';

const tags = ['Subscriptions'];

type Usage = Awaited<ReturnType<BillingService['subscriptionUsage']>>;

/** The reference types these amounts as JSON numbers; the service keeps exact decimals until this boundary. */
function usageWire(usage: Usage) {
  return {
    ...usage,
    amount: Number(usage.amount),
    commitment_amount: Number(usage.commitment_amount),
    commitment_utilized: Number(usage.commitment_utilized),
    overage_amount: Number(usage.overage_amount),
    overage_factor: Number(usage.overage_factor),
    charges: usage.charges.map((charge) => ({
      ...charge,
      amount: Number(charge.amount),
      quantity: Number(charge.quantity),
      overage_factor: Number(charge.overage_factor),
    })),
  };
}
const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse };

export function registerBillingRoutes(app: App, billing: BillingService): void {
  app.post(
    '/v1/subscriptions/usage',
    {
      schema: {
        tags,
        operationId: 'getSubscriptionUsage',
        body: SubscriptionUsageRequest,
        response: { 200: SubscriptionUsageResponse, ...errors },
      },
    },
    async (request) => usageWire(await billing.subscriptionUsage(request.ctx, request.body)),
  );

  app.post(
    '/v1/invoices/preview',
    {
      schema: {
        tags: ['Invoices'],
        operationId: 'getInvoicePreview',
        body: PreviewInvoiceRequest,
        response: { 200: InvoiceResponse, ...errors },
      },
    },
    async (request) => billing.previewInvoice(request.ctx, request.body),
  );

  app.get(
    '/v1/subscriptions/:id/grants/upcoming',
    {
      schema: {
        tags,
        operationId: 'getSubscriptionUpcomingGrants',
        params: IdParams,
        response: { 200: CreditGrantApplicationList, ...errors },
      },
    },
    async (request) => billing.upcomingGrants(request.ctx, request.params.id),
  );
}
