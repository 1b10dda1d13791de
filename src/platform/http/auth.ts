import type { FastifyInstance } from 'fastify';
import { errorEnvelope } from '../errors.ts';
import type { RequestContext } from './context.ts';

export const API_KEY_HEADER = 'x-api-key';

/**
 * Every route that is not marked `config.public` needs a valid `x-api-key`. The key decides the tenant and the
 * environment; nothing in the request can override that (ids of other environments answer 404).
 */
export function installAuth(
  app: FastifyInstance,
  authenticate: (rawKey: string) => Promise<RequestContext | null>,
): void {
  app.decorateRequest('ctx', null as unknown as RequestContext);
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config?.public) return;
    if (!request.routeOptions.url) return; // unknown route: let the 404 handler answer
    const header = request.headers[API_KEY_HEADER];
    const rawKey = Array.isArray(header) ? header[0] : header;
    if (!rawKey) {
      return reply.status(401).send(errorEnvelope('unauthorized', 'missing API key: send it in the x-api-key header'));
    }
    const context = await authenticate(rawKey.trim());
    if (!context) return reply.status(401).send(errorEnvelope('unauthorized', 'invalid or expired API key'));
    request.ctx = context;
  });
}
