import { Type } from 'typebox';
import type { App } from '../../platform/http/app-types.ts';
import { DecimalString, ErrorResponse, Timestamp } from '../../platform/http/schemas.ts';
import { FeatureResponse } from '../catalog/features.schemas.ts';
import { AggregatedFeature } from './subscriptions.schemas.ts';
import type { UsageSummaryService } from './usage-summary.service.ts';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse };
const commaList = (description: string) =>
  Type.Optional(Type.String({ description: `comma-separated ${description}` }));

export const CustomerUsageSummaryQuery = Type.Object({
  customer_id: Type.Optional(Type.String()),
  customer_lookup_key: Type.Optional(Type.String({ description: "the customer's external_id" })),
  feature_ids: commaList('feature ids'),
  feature_lookup_keys: commaList('feature lookup keys'),
  subscription_ids: commaList('subscription ids'),
});

export const FeatureUsageSummary = Type.Object(
  {
    feature: FeatureResponse,
    is_enabled: Type.Boolean(),
    is_soft_limit: Type.Boolean(),
    is_unlimited: Type.Boolean(),
    total_limit: Type.Optional(Type.Integer({ description: 'absent when unlimited or not metered' })),
    current_usage: DecimalString,
    usage_percent: DecimalString,
    is_limit_exceeded: Type.Boolean({ description: 'Tally extension: current_usage > total_limit' }),
    usage_reset_period: Type.Optional(Type.String()),
    next_usage_reset_at: Type.Optional(Timestamp),
    usage_period_start: Type.Optional(Timestamp),
    usage_period_end: Type.Optional(Timestamp),
    sources: AggregatedFeature.properties.sources,
  },
  { title: 'FeatureUsageSummary' },
);

export const CustomerUsageSummaryResponse = Type.Object(
  {
    customer_id: Type.String(),
    features: Type.Array(FeatureUsageSummary),
    period: Type.Optional(Type.Object({ start_time: Timestamp, end_time: Timestamp, period: Type.String() })),
    pagination: Type.Object({ total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() }),
  },
  { title: 'CustomerUsageSummaryResponse' },
);

const split = (value: string | undefined) =>
  value
    ?.split(',')
    .map((v) => v.trim())
    .filter(Boolean);

export function registerUsageSummaryRoutes(app: App, usageSummary: UsageSummaryService): void {
  app.get(
    '/v1/customers/usage',
    {
      schema: {
        tags: ['Customers'],
        operationId: 'getCustomerUsageSummary',
        querystring: CustomerUsageSummaryQuery,
        response: { 200: CustomerUsageSummaryResponse, ...errors },
      },
    },
    async (request) => {
      const q = request.query;
      return usageSummary.getCustomerUsageSummary(request.ctx, {
        customer_id: q.customer_id || undefined,
        customer_lookup_key: q.customer_lookup_key || undefined,
        feature_ids: split(q.feature_ids),
        feature_lookup_keys: split(q.feature_lookup_keys),
        subscription_ids: split(q.subscription_ids),
      });
    },
  );
}
