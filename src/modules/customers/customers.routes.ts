import type { App } from '../../platform/http/app-types.ts';
import { ErrorResponse, IdParams } from '../../platform/http/schemas.ts';
import {
  CreateCustomerRequest,
  CustomerList,
  CustomerListQuery,
  CustomerResponse,
  CustomerSearchRequest,
  ExternalIdParams,
  UpdateCustomerQuery,
  UpdateCustomerRequest,
} from './customers.schemas.ts';
import type { CustomersService } from './customers.service.ts';

const tags = ['Customers'];
const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

function splitList(value: string | undefined): string[] | undefined {
  return value === undefined
    ? undefined
    : value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
}

export function registerCustomerRoutes(app: App, customers: CustomersService): void {
  app.post(
    '/v1/customers',
    {
      schema: {
        tags,
        operationId: 'createCustomer',
        body: CreateCustomerRequest,
        response: { 201: CustomerResponse, ...errors },
      },
    },
    async (request, reply) => reply.status(201).send(await customers.createCustomer(request.ctx, request.body)),
  );

  app.get(
    '/v1/customers',
    {
      schema: {
        tags,
        operationId: 'listCustomers',
        querystring: CustomerListQuery,
        response: { 200: CustomerList, ...errors },
      },
    },
    async (request) => {
      const { customer_ids, external_ids, ...rest } = request.query;
      return customers.searchCustomers(request.ctx, {
        ...rest,
        customer_ids: splitList(customer_ids),
        external_ids: splitList(external_ids),
      });
    },
  );

  app.post(
    '/v1/customers/search',
    {
      schema: {
        tags,
        operationId: 'queryCustomer',
        body: CustomerSearchRequest,
        response: { 200: CustomerList, ...errors },
      },
    },
    async (request) => customers.searchCustomers(request.ctx, request.body),
  );

  app.get(
    '/v1/customers/external/:external_id',
    {
      schema: {
        tags,
        operationId: 'getCustomerByExternalId',
        params: ExternalIdParams,
        response: { 200: CustomerResponse, ...errors },
      },
    },
    async (request) => customers.getCustomerByExternalId(request.ctx, request.params.external_id),
  );

  app.get(
    '/v1/customers/:id',
    { schema: { tags, operationId: 'getCustomer', params: IdParams, response: { 200: CustomerResponse, ...errors } } },
    async (request) => customers.getCustomer(request.ctx, request.params.id),
  );

  app.put(
    '/v1/customers',
    {
      schema: {
        tags,
        operationId: 'updateCustomer',
        querystring: UpdateCustomerQuery,
        body: UpdateCustomerRequest,
        response: { 200: CustomerResponse, ...errors },
      },
    },
    async (request) =>
      customers.updateCustomer(
        request.ctx,
        { id: request.query.id, externalId: request.query.external_customer_id },
        request.body,
      ),
  );

  app.delete(
    '/v1/customers/:id',
    {
      schema: { tags, operationId: 'deleteCustomer', params: IdParams, response: { 204: { type: 'null' }, ...errors } },
    },
    async (request, reply) => {
      await customers.deleteCustomer(request.ctx, request.params.id);
      return reply.status(204).send(null);
    },
  );
}
