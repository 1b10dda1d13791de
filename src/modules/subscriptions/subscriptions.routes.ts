import { Type } from 'typebox';
import { validation } from '../../platform/errors.ts';
import type { App } from '../../platform/http/app-types.ts';
import { ErrorResponse, IdParams } from '../../platform/http/schemas.ts';
import {
  CancelSubscriptionRequest,
  CancelSubscriptionResponse,
  CreateSubscriptionRequest,
  CustomerEntitlementsResponse,
  EntitlementsQuery,
  SubscriptionEntitlementsResponse,
  SubscriptionList,
  SubscriptionResponse,
  SubscriptionSearchRequest,
} from './subscriptions.schemas.ts';
import type { SubscriptionsService } from './subscriptions.service.ts';

const tags = ['Subscriptions'];

/**
 * Create-request fields of the reference that Tally does not implement yet. Silently dropping them would bill a
 * customer differently from what the caller asked for, so a non-empty value is refused with 400.
 */
const UNSUPPORTED_CREATE_FIELDS = [
  'addons',
  'auto_invoice_threshold',
  'billing_anchor',
  'checkout',
  'commitment_amount',
  'commitment_duration',
  'coupons',
  'credit_grants',
  'enable_true_up',
  'gateway_payment_method_id',
  'inheritance',
  'line_item_commitments',
  'line_item_coupons',
  'line_items',
  'overage_factor',
  'override_entitlements',
  'override_line_items',
  'phases',
  'proration_behavior',
  'subscription_coupons',
  'subscription_status',
  'tax_rate_overrides',
];

function isEmpty(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && Object.keys(value).length === 0;
}

function refuseUnsupportedFields(body: unknown): void {
  if (!body || typeof body !== 'object') return;
  for (const field of UNSUPPORTED_CREATE_FIELDS) {
    const value = (body as Record<string, unknown>)[field];
    if (!isEmpty(value)) throw validation(`${field} is not supported yet`, { field });
  }
}
const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

export function registerSubscriptionRoutes(app: App, subscriptions: SubscriptionsService): void {
  app.post(
    '/v1/subscriptions',
    {
      schema: {
        tags,
        operationId: 'createSubscription',
        body: CreateSubscriptionRequest,
        response: { 201: SubscriptionResponse, ...errors },
      },
      // Before validation, which drops fields the schema does not list.
      preValidation: async (request) => refuseUnsupportedFields(request.body),
    },
    async (request, reply) => reply.status(201).send(await subscriptions.createSubscription(request.ctx, request.body)),
  );

  app.post(
    '/v1/subscriptions/search',
    {
      schema: {
        tags,
        operationId: 'querySubscription',
        body: SubscriptionSearchRequest,
        response: { 200: SubscriptionList, ...errors },
      },
    },
    async (request) => subscriptions.searchSubscriptions(request.ctx, request.body),
  );

  app.get(
    '/v1/subscriptions/:id',
    {
      schema: {
        tags,
        operationId: 'getSubscription',
        params: IdParams,
        response: { 200: SubscriptionResponse, ...errors },
      },
    },
    async (request) => subscriptions.getSubscription(request.ctx, request.params.id),
  );

  app.post(
    '/v1/subscriptions/:id/cancel',
    {
      schema: {
        tags,
        operationId: 'cancelSubscription',
        params: IdParams,
        body: CancelSubscriptionRequest,
        response: { 200: CancelSubscriptionResponse, ...errors },
      },
    },
    async (request) => subscriptions.cancelSubscription(request.ctx, request.params.id, request.body),
  );

  app.get(
    '/v1/subscriptions/:id/entitlements',
    {
      schema: {
        tags,
        operationId: 'getSubscriptionEntitlements',
        params: IdParams,
        querystring: EntitlementsQuery,
        response: { 200: SubscriptionEntitlementsResponse, ...errors },
      },
    },
    async (request) =>
      subscriptions.getSubscriptionEntitlements(
        request.ctx,
        request.params.id,
        request.query.feature_ids
          ?.split(',')
          .map((v) => v.trim())
          .filter(Boolean),
      ),
  );

  app.get(
    '/v1/customers/:id/entitlements',
    {
      schema: {
        tags,
        operationId: 'getCustomerEntitlements',
        params: IdParams,
        response: { 200: CustomerEntitlementsResponse, ...errors },
      },
    },
    async (request) => subscriptions.getCustomerEntitlements(request.ctx, { id: request.params.id }),
  );

  app.get(
    '/v1/customers/external/:external_id/entitlements',
    {
      schema: {
        tags,
        operationId: 'getCustomerEntitlementsByExternalId',
        params: Type.Object({ external_id: Type.String({ minLength: 1, maxLength: 255 }) }),
        response: { 200: CustomerEntitlementsResponse, ...errors },
      },
    },
    async (request) => subscriptions.getCustomerEntitlements(request.ctx, { externalId: request.params.external_id }),
  );

  app.get(
    '/v1/customers/external/:external_id/subscriptions',
    {
      schema: {
        tags,
        operationId: 'getCustomerSubscriptionsByExternalId',
        params: Type.Object({ external_id: Type.String({ minLength: 1, maxLength: 255 }) }),
        querystring: Type.Object({ expand: Type.Optional(Type.String()) }),
        response: { 200: SubscriptionList, ...errors },
      },
    },
    async (request) =>
      subscriptions.listCustomerSubscriptions(request.ctx, request.params.external_id, request.query.expand),
  );
}
