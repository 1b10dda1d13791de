/**
 * The closed set of error codes (the reference's `errors.ErrorCode`) and their one status table.
 * Services throw AppError; the HTTP layer renders it into the envelope both client generations parse.
 */
export const ERROR_STATUS = {
  validation_error: 400,
  invalid_operation: 400,
  unauthorized: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  version_conflict: 409,
  too_many_requests: 429,
  internal_error: 500,
  database_error: 500,
  service_unavailable: 503,
  not_implemented: 501,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.details = details;
  }
  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export const notFound = (what: string, details?: Record<string, unknown>) =>
  new AppError('not_found', `${what} not found`, details);
export const validation = (message: string, details?: Record<string, unknown>) =>
  new AppError('validation_error', message, details);
export const invalidOperation = (message: string, details?: Record<string, unknown>) =>
  new AppError('invalid_operation', message, details);
export const alreadyExists = (message: string, details?: Record<string, unknown>) =>
  new AppError('already_exists', message, details);

export interface ErrorEnvelope {
  code: ErrorCode;
  message: string;
  http_status_code: number;
  details?: Record<string, unknown>;
  success: false;
  error: { message: string };
}

export function errorEnvelope(code: ErrorCode, message: string, details?: Record<string, unknown>): ErrorEnvelope {
  const body: ErrorEnvelope = {
    code,
    message,
    http_status_code: ERROR_STATUS[code],
    success: false,
    error: { message },
  };
  if (details && Object.keys(details).length > 0) body.details = details;
  return body;
}
