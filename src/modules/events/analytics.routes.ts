import type { App } from '../../platform/http/app-types.ts';
import { ErrorResponse } from '../../platform/http/schemas.ts';
import { GetUsageAnalyticsRequest, GetUsageAnalyticsResponse } from './analytics.schemas.ts';
import type { AnalyticsService } from './analytics.service.ts';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse };

export function registerAnalyticsRoutes(app: App, analytics: AnalyticsService): void {
  app.post(
    '/v1/events/analytics',
    {
      schema: {
        tags: ['Events'],
        operationId: 'getUsageAnalytics',
        body: GetUsageAnalyticsRequest,
        response: { 200: GetUsageAnalyticsResponse, ...errors },
      },
    },
    async (request) => analytics.getUsageAnalytics(request.ctx, request.body),
  );
}
