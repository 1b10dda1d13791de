import { Type } from 'typebox';
import { DecimalString, StringEnum, Timestamp } from '../../platform/http/schemas.ts';
import { PriceResponse } from '../catalog/catalog.schemas.ts';
import { FeatureResponse, MeterResponse } from '../catalog/features.schemas.ts';
import { SubscriptionLineItemResponse } from '../subscriptions/subscriptions.schemas.ts';
import { AGGREGATION_TYPES, PropertyFilters, WINDOW_SIZES } from './events.schemas.ts';

export const GetUsageAnalyticsRequest = Type.Object({
  external_customer_id: Type.Optional(Type.String({ description: 'required (the reference has no other way yet)' })),
  feature_ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  sources: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  start_time: Type.Optional(Timestamp),
  end_time: Type.Optional(Timestamp),
  window_size: Type.Optional(StringEnum(WINDOW_SIZES)),
  group_by: Type.Optional(
    Type.Array(Type.String(), { maxItems: 5, description: '"source", "feature_id", "properties.<name>"' }),
  ),
  property_filters: Type.Optional(PropertyFilters),
  expand: Type.Optional(
    Type.Array(Type.String(), { maxItems: 10, description: 'feature, meter, price, subscription_line_item' }),
  ),
  breakdown_bucket: Type.Optional(Type.Boolean({ description: 'true is refused: no commitment time buckets' })),
  include_children: Type.Optional(Type.Boolean({ description: 'true is refused: no customer hierarchy' })),
});

export const UsageAnalyticPoint = Type.Object({
  timestamp: Type.String({ description: 'window start, RFC 3339 UTC' }),
  usage: DecimalString,
  cost: DecimalString,
  subtotal: DecimalString,
  discount: DecimalString,
  event_count: Type.Integer(),
});

export const UsageAnalyticItem = Type.Object(
  {
    feature_id: Type.String(),
    name: Type.String(),
    event_name: Type.String(),
    meter_id: Type.String(),
    aggregation_type: StringEnum(AGGREGATION_TYPES),
    unit: Type.String(),
    unit_plural: Type.String(),
    reporting_unit: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    source: Type.Optional(Type.String({ description: 'when grouped by source' })),
    sources: Type.Optional(Type.Array(Type.String(), { description: 'when not grouped by source' })),
    properties: Type.Optional(Type.Record(Type.String(), Type.String())),
    total_usage: DecimalString,
    total_usage_display: Type.String(),
    event_count: Type.Integer(),
    window_size: Type.Optional(StringEnum(WINDOW_SIZES)),
    points: Type.Array(UsageAnalyticPoint),
    currency: Type.String(),
    price_id: Type.Optional(Type.String()),
    subscription_id: Type.Optional(Type.String()),
    sub_line_item_id: Type.Optional(Type.String()),
    add_on_id: Type.Optional(Type.String()),
    plan_id: Type.Optional(Type.String()),
    subtotal: DecimalString,
    total_discount: DecimalString,
    total_cost: DecimalString,
    feature: Type.Optional(FeatureResponse),
    meter: Type.Optional(MeterResponse),
    price: Type.Optional(PriceResponse),
    subscription_line_item: Type.Optional(SubscriptionLineItemResponse),
  },
  { title: 'UsageAnalyticItem' },
);

export const GetUsageAnalyticsResponse = Type.Object(
  {
    currency: Type.String(),
    items: Type.Array(UsageAnalyticItem),
    subtotal: DecimalString,
    total_discount: DecimalString,
    total_cost: DecimalString,
    custom_analytics: Type.Array(
      Type.Object({
        id: Type.String(),
        name: Type.String(),
        feature_name: Type.String(),
        type: Type.String(),
        value: Type.String(),
      }),
    ),
  },
  { title: 'GetUsageAnalyticsResponse' },
);
