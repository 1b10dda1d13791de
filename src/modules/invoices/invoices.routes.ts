import type { App } from '../../platform/http/app-types.ts';
import { ErrorResponse, IdParams } from '../../platform/http/schemas.ts';
import {
  GetInvoiceQuery,
  InvoiceList,
  InvoiceListQuery,
  InvoiceResponse,
  InvoiceSearchRequest,
} from './invoices.schemas.ts';
import type { InvoicesService } from './invoices.service.ts';

const tags = ['Invoices'];
const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

export function registerInvoiceRoutes(app: App, invoices: InvoicesService): void {
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
}
