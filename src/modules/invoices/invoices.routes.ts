import { Type } from 'typebox';
import { validation } from '../../platform/errors.ts';
import type { App } from '../../platform/http/app-types.ts';
import { ErrorResponse, IdParams, SuccessMessage } from '../../platform/http/schemas.ts';
import { parseDecimal } from '../../platform/money.ts';
import {
  CreateInvoiceRequest,
  CreatePaymentRequest,
  CustomerMultiCurrencyInvoiceSummary,
  GetInvoiceQuery,
  InvoiceList,
  InvoiceListQuery,
  InvoicePdfQuery,
  InvoiceResponse,
  InvoiceSearchRequest,
  PaymentList,
  PaymentListQuery,
  PaymentResponse,
  UpdateInvoiceRequest,
  UpdatePaymentRequest,
  UpdatePaymentStatusRequest,
} from './invoices.schemas.ts';
import type { InvoicesService } from './invoices.service.ts';

const tags = ['Invoices'];
const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

function isEmpty(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === '') return true;
  if (typeof value === 'string' || typeof value === 'number') return parseDecimal(value)?.isZero() ?? false;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && Object.keys(value).length === 0;
}

/**
 * Create-request fields of the reference that Tally does not implement (coupons, taxes, provider sync, caller-chosen
 * numbers and prepaid amounts). Validation would drop them silently and bill differently from what was asked, so a
 * non-empty value is refused with 400.
 */
const UNSUPPORTED_CREATE_FIELDS = [
  'coupons',
  'invoice_coupons',
  'line_item_coupons',
  'tax_rates',
  'tax_rate_overrides',
  'prepared_tax_rates',
  'invoice_number',
  'total_prepaid_applied',
  'force_sync_invoice',
];
const UNSUPPORTED_LINE_FIELDS = [
  'commitment_info',
  'invoice_level_discount',
  'line_item_discount',
  'prepaid_credits_applied',
  'price_unit',
  'price_unit_amount',
  'subscription_id',
];

function refuseUnsupportedCreateFields(body: unknown): void {
  if (!body || typeof body !== 'object') return;
  const record = body as Record<string, unknown>;
  for (const field of UNSUPPORTED_CREATE_FIELDS) {
    if (!isEmpty(record[field])) throw validation(`${field} is not supported`, { field });
  }
  if (!Array.isArray(record.line_items)) return;
  record.line_items.forEach((line, i) => {
    if (!line || typeof line !== 'object') return;
    for (const field of UNSUPPORTED_LINE_FIELDS) {
      if (!isEmpty((line as Record<string, unknown>)[field])) {
        throw validation(`line_items[${i}].${field} is not supported`, { field });
      }
    }
  });
}

export function registerInvoiceRoutes(app: App, invoices: InvoicesService): void {
  app.post(
    '/v1/invoices',
    {
      schema: {
        tags,
        operationId: 'createInvoice',
        body: CreateInvoiceRequest,
        response: { 201: InvoiceResponse, ...errors },
      },
      // Before validation, which drops fields the schema does not list.
      preValidation: async (request) => refuseUnsupportedCreateFields(request.body),
    },
    async (request, reply) => reply.status(201).send(await invoices.createInvoice(request.ctx, request.body)),
  );

  app.post(
    '/v1/invoices/search',
    {
      schema: {
        tags,
        operationId: 'queryInvoice',
        body: InvoiceSearchRequest,
        response: { 200: InvoiceList, ...errors },
      },
    },
    async (request) => invoices.searchInvoices(request.ctx, request.body),
  );

  app.get(
    '/v1/invoices',
    {
      schema: {
        tags,
        operationId: 'listInvoices',
        querystring: InvoiceListQuery,
        response: { 200: InvoiceList, ...errors },
      },
    },
    async (request) => invoices.searchInvoices(request.ctx, request.query),
  );

  app.get(
    '/v1/invoices/:id',
    {
      schema: {
        tags,
        operationId: 'getInvoice',
        params: IdParams,
        querystring: GetInvoiceQuery,
        response: { 200: InvoiceResponse, ...errors },
      },
    },
    async (request) => invoices.getInvoice(request.ctx, request.params.id, request.query.expand),
  );

  app.put(
    '/v1/invoices/:id',
    {
      schema: {
        tags,
        operationId: 'updateInvoice',
        params: IdParams,
        body: UpdateInvoiceRequest,
        response: { 200: InvoiceResponse, ...errors },
      },
    },
    async (request) => invoices.updateInvoice(request.ctx, request.params.id, request.body),
  );

  app.post(
    '/v1/invoices/:id/finalize',
    {
      schema: {
        tags,
        operationId: 'finalizeInvoice',
        params: IdParams,
        response: { 200: SuccessMessage, ...errors },
      },
    },
    async (request) => {
      await invoices.finalizeInvoice(request.ctx, request.params.id);
      return { message: 'invoice finalized successfully' };
    },
  );

  app.post(
    '/v1/invoices/:id/void',
    {
      schema: {
        tags,
        operationId: 'voidInvoice',
        params: IdParams,
        response: { 200: SuccessMessage, ...errors },
      },
    },
    async (request) => {
      await invoices.voidInvoice(request.ctx, request.params.id);
      return { message: 'invoice voided successfully' };
    },
  );

  app.put(
    '/v1/invoices/:id/payment',
    {
      schema: {
        tags,
        operationId: 'updateInvoicePaymentStatus',
        params: IdParams,
        body: UpdatePaymentStatusRequest,
        response: { 200: InvoiceResponse, ...errors },
      },
    },
    async (request) => invoices.updatePaymentStatus(request.ctx, request.params.id, request.body),
  );

  app.post(
    '/v1/invoices/:id/payment/attempt',
    {
      schema: {
        tags,
        operationId: 'attemptInvoicePayment',
        params: IdParams,
        response: { 200: SuccessMessage, ...errors },
      },
    },
    async (request) => invoices.attemptPayment(request.ctx, request.params.id),
  );

  app.get(
    '/v1/invoices/:id/pdf',
    {
      schema: {
        tags,
        operationId: 'getInvoicePdf',
        params: IdParams,
        querystring: InvoicePdfQuery,
        response: {
          200: Type.Unsafe<Buffer>({ type: 'string', format: 'binary', description: 'application/pdf' }),
          ...errors,
        },
      },
    },
    async (request, reply) => {
      if (request.query.url) throw validation('url=true is not supported: Tally keeps no PDF storage');
      const { filename, pdf } = await invoices.getInvoicePdf(request.ctx, request.params.id);
      return reply
        .header('content-type', 'application/pdf')
        .header('content-disposition', `attachment; filename="${filename}"`)
        .send(pdf);
    },
  );

  app.get(
    '/v1/customers/:id/invoices/summary',
    {
      schema: {
        tags,
        operationId: 'getCustomerInvoiceSummary',
        params: IdParams,
        response: { 200: CustomerMultiCurrencyInvoiceSummary, ...errors },
      },
    },
    async (request) => invoices.getCustomerInvoiceSummary(request.ctx, request.params.id),
  );

  // ---- payments

  const paymentTags = ['Payments'];

  app.post(
    '/v1/payments',
    {
      schema: {
        tags: paymentTags,
        operationId: 'createPayment',
        body: CreatePaymentRequest,
        response: { 201: PaymentResponse, ...errors },
      },
      preValidation: async (request) => {
        const body = request.body as Record<string, unknown> | undefined;
        for (const field of [
          'gateway_options',
          'payment_gateway',
          'success_url',
          'cancel_url',
          'save_card_and_make_default',
        ]) {
          if (body && !isEmpty(body[field]))
            throw validation(`${field} is not supported: Tally has no payment provider`);
        }
      },
    },
    async (request, reply) => reply.status(201).send(await invoices.createPayment(request.ctx, request.body)),
  );

  app.get(
    '/v1/payments',
    {
      schema: {
        tags: paymentTags,
        operationId: 'listPayments',
        querystring: PaymentListQuery,
        response: { 200: PaymentList, ...errors },
      },
    },
    async (request) => invoices.listPayments(request.ctx, request.query),
  );

  app.get(
    '/v1/payments/:id',
    {
      schema: {
        tags: paymentTags,
        operationId: 'getPayment',
        params: IdParams,
        response: { 200: PaymentResponse, ...errors },
      },
    },
    async (request) => invoices.getPayment(request.ctx, request.params.id),
  );

  app.put(
    '/v1/payments/:id',
    {
      schema: {
        tags: paymentTags,
        operationId: 'updatePayment',
        params: IdParams,
        body: UpdatePaymentRequest,
        response: { 200: PaymentResponse, ...errors },
      },
      preValidation: async (request) => {
        const body = request.body as Record<string, unknown> | undefined;
        for (const field of ['refunded_at', 'succeeded_at', 'voided_at']) {
          if (body && !isEmpty(body[field])) throw validation(`${field} cannot be set: it follows the payment status`);
        }
      },
    },
    async (request) => invoices.updatePayment(request.ctx, request.params.id, request.body),
  );

  app.delete(
    '/v1/payments/:id',
    {
      schema: {
        tags: paymentTags,
        operationId: 'deletePayment',
        params: IdParams,
        response: { 200: SuccessMessage, ...errors },
      },
    },
    async (request) => invoices.deletePayment(request.ctx, request.params.id),
  );

  app.post(
    '/v1/payments/:id/process',
    {
      schema: {
        tags: paymentTags,
        operationId: 'processPayment',
        params: IdParams,
        response: { 200: PaymentResponse, ...errors },
      },
    },
    async (request) => invoices.processPayment(request.ctx, request.params.id),
  );
}
