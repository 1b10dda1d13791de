import { Type } from 'typebox';
import { StringEnum, Timestamp } from '../../platform/http/schemas.ts';

export const AGGREGATION_TYPES = [
  'COUNT',
  'SUM',
  'AVG',
  'COUNT_UNIQUE',
  'LATEST',
  'SUM_WITH_MULTIPLIER',
  'MAX',
  'WEIGHTED_SUM',
] as const;
export type AggregationType = (typeof AGGREGATION_TYPES)[number];

export const WINDOW_SIZES = [
  'MINUTE',
  '15MIN',
  '30MIN',
  'HOUR',
  '3HOUR',
  '6HOUR',
  '12HOUR',
  'DAY',
  'WEEK',
  'MONTH',
] as const;
export type WindowSize = (typeof WINDOW_SIZES)[number];

const PropertyValue = Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]);

export const IngestEventRequest = Type.Object({
  event_name: Type.String({ minLength: 1, maxLength: 255 }),
  external_customer_id: Type.Optional(Type.String({ maxLength: 255 })),
  customer_id: Type.Optional(Type.String({ maxLength: 50 })),
  event_id: Type.Optional(Type.String({ maxLength: 255 })),
  timestamp: Type.Optional(Timestamp),
  source: Type.Optional(Type.String({ maxLength: 255 })),
  properties: Type.Optional(
    Type.Record(Type.String(), PropertyValue, {
      description: 'string or numeric values; numeric strings aggregate as numbers',
    }),
  ),
});

export const BulkIngestEventRequest = Type.Object({
  events: Type.Array(IngestEventRequest, { minItems: 1, maxItems: 1000 }),
});

export const IngestResponse = Type.Record(Type.String(), Type.String());

export const EventResponse = Type.Object({
  id: Type.String(),
  event_name: Type.String(),
  external_customer_id: Type.String(),
  customer_id: Type.String(),
  timestamp: Timestamp,
  source: Type.String(),
  properties: Type.Record(Type.String(), Type.Unknown()),
  environment_id: Type.String(),
});

export const PropertyFilters = Type.Record(Type.String(), Type.Array(Type.String()));

export const GetEventsRequest = Type.Object({
  external_customer_id: Type.Optional(Type.String()),
  event_name: Type.Optional(Type.String()),
  event_id: Type.Optional(Type.String()),
  source: Type.Optional(Type.String()),
  start_time: Type.Optional(Timestamp),
  end_time: Type.Optional(Timestamp),
  property_filters: Type.Optional(PropertyFilters),
  sort: Type.Optional(StringEnum(['timestamp', 'event_name'])),
  order: Type.Optional(StringEnum(['asc', 'desc'])),
  page_size: Type.Optional(Type.Integer()),
  offset: Type.Optional(Type.Integer({ minimum: 0 })),
  iter_first_key: Type.Optional(Type.String()),
  iter_last_key: Type.Optional(Type.String()),
  count_total: Type.Optional(Type.Boolean()),
});

export const GetEventsResponse = Type.Object({
  events: Type.Array(EventResponse),
  has_more: Type.Boolean(),
  iter_first_key: Type.Optional(Type.String()),
  iter_last_key: Type.Optional(Type.String()),
  total_count: Type.Integer(),
  offset: Type.Integer(),
});

export const LookupQuery = Type.Object({ id: Type.String({ minLength: 1 }) });

export const GetEventByIdResponse = Type.Object({
  event: EventResponse,
  status: StringEnum(['processed', 'processing', 'failed']),
});

export const GetUsageRequest = Type.Object({
  event_name: Type.String({ minLength: 1 }),
  aggregation_type: StringEnum(AGGREGATION_TYPES),
  property_name: Type.Optional(Type.String()),
  external_customer_id: Type.Optional(Type.String()),
  customer_id: Type.Optional(Type.String()),
  start_time: Type.Optional(Timestamp),
  end_time: Type.Optional(Timestamp),
  window_size: Type.Optional(StringEnum(WINDOW_SIZES)),
  bucket_size: Type.Optional(StringEnum(WINDOW_SIZES)),
  billing_anchor: Type.Optional(Timestamp),
  timezone: Type.Optional(Type.String()),
  filters: Type.Optional(PropertyFilters),
  multiplier: Type.Optional(Type.Union([Type.String(), Type.Number()])),
  group_by: Type.Optional(Type.Array(Type.String(), { maxItems: 5 })),
  group_by_property: Type.Optional(Type.String()),
});

export const GetUsageByMeterRequest = Type.Object({
  meter_id: Type.String({ minLength: 1 }),
  external_customer_id: Type.Optional(Type.String()),
  customer_id: Type.Optional(Type.String()),
  start_time: Type.Optional(Timestamp),
  end_time: Type.Optional(Timestamp),
  window_size: Type.Optional(StringEnum(WINDOW_SIZES)),
  bucket_size: Type.Optional(StringEnum(WINDOW_SIZES)),
  billing_anchor: Type.Optional(Timestamp),
  timezone: Type.Optional(Type.String()),
  filters: Type.Optional(PropertyFilters),
});

export const UsageResult = Type.Object({ window_size: Type.String(), value: Type.Number() });

export const GetUsageResponse = Type.Object({
  event_name: Type.String(),
  type: Type.String(),
  value: Type.Number(),
  results: Type.Array(UsageResult),
});
