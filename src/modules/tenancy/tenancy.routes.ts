import { Type } from 'typebox';
import type { App } from '../../platform/http/app-types.ts';
import { ErrorResponse, IdParams, ListOf, StringEnum, Timestamp } from '../../platform/http/schemas.ts';
import type { TenancyService } from './tenancy.service.ts';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse };
const EnvironmentType = StringEnum(['development', 'production']);

const EnvironmentResponse = Type.Object(
  {
    id: Type.String(),
    tenant_id: Type.String(),
    name: Type.String(),
    type: Type.String(),
    status: Type.String(),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { title: 'EnvironmentResponse' },
);

const SecretResponse = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    type: Type.String(),
    provider: Type.String(),
    display_id: Type.String(),
    environment_id: Type.String(),
    roles: Type.Array(Type.String()),
    user_type: Type.String(),
    status: Type.String(),
    expires_at: Type.Optional(Timestamp),
    last_used_at: Type.Optional(Timestamp),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { title: 'SecretResponse' },
);

const PageQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  offset: Type.Optional(Type.Integer({ minimum: 0 })),
  status: Type.Optional(StringEnum(['published', 'deleted'])),
});

const ENVIRONMENT_HEADER = 'x-environment-id';

export function registerTenancyRoutes(app: App, tenancy: TenancyService): void {
  app.post(
    '/v1/environments',
    {
      schema: {
        tags: ['Environments'],
        operationId: 'createEnvironment',
        body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }), type: EnvironmentType }),
        response: { 201: EnvironmentResponse, ...errors },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await tenancy.createEnvironment(request.ctx.tenantId, request.body)),
  );

  app.get(
    '/v1/environments',
    {
      schema: {
        tags: ['Environments'],
        operationId: 'listEnvironments',
        querystring: PageQuery,
        response: { 200: ListOf(EnvironmentResponse), ...errors },
      },
    },
    async (request) => tenancy.listEnvironments(request.ctx.tenantId, request.query),
  );

  app.get(
    '/v1/environments/:id',
    {
      schema: {
        tags: ['Environments'],
        operationId: 'getEnvironment',
        params: IdParams,
        response: { 200: EnvironmentResponse, ...errors },
      },
    },
    async (request) => tenancy.getEnvironment(request.ctx.tenantId, request.params.id),
  );

  app.put(
    '/v1/environments/:id',
    {
      schema: {
        tags: ['Environments'],
        operationId: 'updateEnvironment',
        params: IdParams,
        body: Type.Object({
          name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
          type: Type.Optional(EnvironmentType),
        }),
        response: { 200: EnvironmentResponse, ...errors },
      },
    },
    async (request) => tenancy.updateEnvironment(request.ctx.tenantId, request.params.id, request.body),
  );

  app.post(
    '/v1/secrets/api/keys',
    {
      schema: {
        tags: ['Secrets'],
        operationId: 'createApiKey',
        description:
          "Creates an API key of the caller's environment, or of another environment of the same tenant named by the X-Environment-ID header. The raw key is returned once.",
        body: Type.Object({
          name: Type.String({ minLength: 1, maxLength: 255 }),
          type: Type.String(),
          expires_at: Type.Optional(Timestamp),
        }),
        response: { 201: Type.Object({ api_key: Type.String(), secret: SecretResponse }), ...errors },
      },
    },
    async (request, reply) => {
      const header = request.headers[ENVIRONMENT_HEADER];
      const environmentId = (Array.isArray(header) ? header[0] : header) || request.ctx.environmentId;
      const created = await tenancy.createApiKey({ tenantId: request.ctx.tenantId, environmentId }, request.body);
      return reply.status(201).send(created);
    },
  );

  app.get(
    '/v1/secrets/api/keys',
    {
      schema: {
        tags: ['Secrets'],
        operationId: 'listApiKeys',
        querystring: PageQuery,
        response: { 200: ListOf(SecretResponse), ...errors },
      },
    },
    async (request) => tenancy.listApiKeys(request.ctx, request.query),
  );

  app.delete(
    '/v1/secrets/api/keys/:id',
    {
      schema: {
        tags: ['Secrets'],
        operationId: 'deleteApiKey',
        params: IdParams,
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (request, reply) => {
      await tenancy.deleteApiKey(request.ctx, request.params.id);
      return reply.status(204).send(null);
    },
  );
}
