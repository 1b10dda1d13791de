import type { App } from '../../platform/http/app-types.ts';
import { ErrorResponse, IdParams } from '../../platform/http/schemas.ts';
import {
  CancelSubscriptionRequest,
  CancelSubscriptionResponse,
  CreateSubscriptionRequest,
  SubscriptionList,
  SubscriptionResponse,
  SubscriptionSearchRequest,
} from './subscriptions.schemas.ts';
import type { SubscriptionsService } from './subscriptions.service.ts';

const tags = ['Subscriptions'];
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
}
