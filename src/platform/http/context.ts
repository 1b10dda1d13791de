/** Who is calling: resolved from the API key by the auth hook; every query filters on both ids. */
export interface Scope {
  tenantId: string;
  environmentId: string;
}

export interface RequestContext extends Scope {
  apiKeyId: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    ctx: RequestContext;
  }
  interface FastifyContextConfig {
    /** Route answers without an API key (health, OpenAPI document, docs). */
    public?: boolean;
  }
}
