import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError, type ErrorCode, errorEnvelope } from '../errors.ts';

interface ValidationIssue {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
  keyword?: string;
}

function fieldOf(issue: ValidationIssue): string {
  const fromPath = (issue.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
  const missing = issue.params?.missingProperty;
  if (typeof missing === 'string') return fromPath ? `${fromPath}.${missing}` : missing;
  return fromPath || '(root)';
}

/** Maps every failure to the error envelope both Flexprice client generations parse. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | AppError, request, reply) => {
    if (error instanceof AppError) {
      return reply.status(error.status).send(errorEnvelope(error.code, error.message, error.details));
    }
    const fe = error as FastifyError & { validation?: ValidationIssue[]; validationContext?: string };
    if (fe.validation) {
      const details: Record<string, string> = {};
      for (const issue of fe.validation) {
        const key = fieldOf(issue);
        if (!(key in details)) details[key] = issue.message ?? 'is invalid';
      }
      const [firstKey, firstMessage] = Object.entries(details)[0] ?? ['(root)', 'is invalid'];
      const where = fe.validationContext ? `${fe.validationContext} ` : '';
      return reply
        .status(400)
        .send(
          errorEnvelope('validation_error', `Request validation failed: ${where}${firstKey} ${firstMessage}`, details),
        );
    }
    let code: ErrorCode | undefined;
    let message = fe.message;
    switch (fe.code) {
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        code = 'validation_error';
        message = `Invalid request format: ${fe.message}`;
        break;
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        code = 'validation_error';
        message = 'request body too large';
        break;
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        code = 'validation_error';
        message = 'Content-Type must be application/json';
        break;
      default:
        if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) code = 'validation_error';
    }
    if (code) return reply.status(400).send(errorEnvelope(code, message));
    request.log.error({ err: error }, 'unhandled error');
    return reply.status(500).send(errorEnvelope('internal_error', 'An unexpected error occurred'));
  });

  app.setNotFoundHandler((request, reply) => {
    reply
      .status(404)
      .send(errorEnvelope('not_found', `Route ${request.method} ${request.url.split('?')[0]} not found`));
  });
}
