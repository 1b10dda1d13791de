import type { App } from '../../platform/http/app-types.ts';
import { ErrorResponse, IdParams } from '../../platform/http/schemas.ts';
import {
  CreateEndpointRequest,
  EndpointList,
  EndpointListQuery,
  EndpointResponse,
  EndpointWithSecretResponse,
  MessageList,
  MessageListQuery,
  MessageResponse,
  MessageWithAttemptsResponse,
  UpdateEndpointRequest,
} from './webhooks.schemas.ts';
import type { WebhooksService } from './webhooks.service.ts';

const tags = ['Webhooks'];
const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse };

export function registerWebhookRoutes(app: App, webhooks: WebhooksService): void {
  app.post(
    '/v1/webhook-endpoints',
    {
      schema: {
        tags,
        operationId: 'createWebhookEndpoint',
        body: CreateEndpointRequest,
        response: { 201: EndpointWithSecretResponse, ...errors },
      },
    },
    async (request, reply) => reply.status(201).send(await webhooks.createEndpoint(request.ctx, request.body)),
  );

  app.get(
    '/v1/webhook-endpoints',
    {
      schema: {
        tags,
        operationId: 'listWebhookEndpoints',
        querystring: EndpointListQuery,
        response: { 200: EndpointList, ...errors },
      },
    },
    async (request) => webhooks.listEndpoints(request.ctx, request.query),
  );

  app.get(
    '/v1/webhook-endpoints/:id',
    {
      schema: {
        tags,
        operationId: 'getWebhookEndpoint',
        params: IdParams,
        response: { 200: EndpointResponse, ...errors },
      },
    },
    async (request) => webhooks.getEndpoint(request.ctx, request.params.id),
  );

  app.put(
    '/v1/webhook-endpoints/:id',
    {
      schema: {
        tags,
        operationId: 'updateWebhookEndpoint',
        params: IdParams,
        body: UpdateEndpointRequest,
        response: { 200: EndpointResponse, ...errors },
      },
    },
    async (request) => webhooks.updateEndpoint(request.ctx, request.params.id, request.body),
  );

  app.delete(
    '/v1/webhook-endpoints/:id',
    {
      schema: {
        tags,
        operationId: 'deleteWebhookEndpoint',
        params: IdParams,
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (request, reply) => {
      await webhooks.deleteEndpoint(request.ctx, request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/v1/webhook-endpoints/:id/rotate-secret',
    {
      schema: {
        tags,
        operationId: 'rotateWebhookEndpointSecret',
        params: IdParams,
        response: { 200: EndpointWithSecretResponse, ...errors },
      },
    },
    async (request) => webhooks.rotateSecret(request.ctx, request.params.id),
  );

  app.get(
    '/v1/webhook-endpoints/:id/messages',
    {
      schema: {
        tags,
        operationId: 'listWebhookMessages',
        params: IdParams,
        querystring: MessageListQuery,
        response: { 200: MessageList, ...errors },
      },
    },
    async (request) => webhooks.listMessages(request.ctx, request.params.id, request.query),
  );

  app.get(
    '/v1/webhook-messages/:id',
    {
      schema: {
        tags,
        operationId: 'getWebhookMessage',
        params: IdParams,
        response: { 200: MessageWithAttemptsResponse, ...errors },
      },
    },
    async (request) => webhooks.getMessage(request.ctx, request.params.id),
  );

  app.post(
    '/v1/webhook-messages/:id/resend',
    {
      schema: {
        tags,
        operationId: 'resendWebhookMessage',
        params: IdParams,
        response: { 202: MessageResponse, ...errors },
      },
    },
    async (request, reply) => reply.status(202).send(await webhooks.resendMessage(request.ctx, request.params.id)),
  );
}
