import { Type } from 'typebox';
import {
  DecimalInput,
  ListOf,
  ListQueryFields,
  Metadata,
  SearchFields,
  Status,
  StringEnum,
  Timestamp,
} from '../../platform/http/schemas.ts';
import { FEATURE_TYPES } from './features.service.ts';
import { AGGREGATION_TYPES, RESET_USAGE, WINDOW_SIZES } from './meters.service.ts';

export const MeterFilterSchema = Type.Object({
  key: Type.String({ maxLength: 255 }),
  values: Type.Array(Type.String(), { maxItems: 1000 }),
});

export const AggregationSchema = Type.Object({
  type: StringEnum(AGGREGATION_TYPES),
  field: Type.Optional(Type.String({ maxLength: 255 })),
  expression: Type.Optional(Type.String({ maxLength: 4096 })),
  multiplier: Type.Optional(DecimalInput),
  bucket_size: Type.Optional(StringEnum(WINDOW_SIZES)),
  group_by: Type.Optional(Type.String({ maxLength: 255 })),
});

export const CreateMeterRequest = Type.Object({
  name: Type.String({ maxLength: 255 }),
  event_name: Type.String({ maxLength: 255 }),
  aggregation: AggregationSchema,
  filters: Type.Optional(Type.Array(MeterFilterSchema, { maxItems: 100 })),
  reset_usage: Type.Optional(StringEnum(RESET_USAGE)),
});

export const UpdateMeterRequest = Type.Object({
  filters: Type.Array(MeterFilterSchema, { maxItems: 100 }),
});

const audit = {
  status: Status,
  tenant_id: Type.String(),
  environment_id: Type.String(),
  created_at: Timestamp,
  updated_at: Timestamp,
  created_by: Type.String(),
  updated_by: Type.String(),
};
export const AuditFields = audit;

export const MeterResponse = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    event_name: Type.String(),
    aggregation: Type.Object({
      type: Type.String(),
      field: Type.Optional(Type.String()),
      expression: Type.Optional(Type.String()),
      multiplier: Type.Optional(Type.String()),
      bucket_size: Type.Optional(Type.String()),
      group_by: Type.Optional(Type.String()),
    }),
    filters: Type.Array(MeterFilterSchema),
    reset_usage: Type.String(),
    ...audit,
  },
  { title: 'MeterResponse' },
);

export const MeterSearchRequest = Type.Object({
  ...SearchFields,
  meter_ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  event_name: Type.Optional(Type.String()),
});
export const MeterListQuery = Type.Object({
  ...ListQueryFields,
  event_name: Type.Optional(Type.String()),
  meter_ids: Type.Optional(Type.String({ description: 'comma-separated meter ids' })),
});
export const MeterList = ListOf(MeterResponse);

const AlertThreshold = Type.Object({
  threshold: DecimalInput,
  condition: StringEnum(['above', 'below']),
});
const AlertSettings = Type.Object({
  alert_enabled: Type.Optional(Type.Boolean()),
  critical: Type.Optional(AlertThreshold),
  warning: Type.Optional(AlertThreshold),
  info: Type.Optional(AlertThreshold),
});
const ReportingUnit = Type.Object({
  unit_singular: Type.Optional(Type.String({ maxLength: 255 })),
  unit_plural: Type.Optional(Type.String({ maxLength: 255 })),
  conversion_rate: Type.Optional(DecimalInput),
});

const featureFields = {
  description: Type.Optional(Type.String({ maxLength: 4096 })),
  metadata: Type.Optional(Metadata),
  unit_singular: Type.Optional(Type.String({ maxLength: 255 })),
  unit_plural: Type.Optional(Type.String({ maxLength: 255 })),
  reporting_unit: Type.Optional(ReportingUnit),
  alert_settings: Type.Optional(AlertSettings),
  group_id: Type.Optional(Type.String({ maxLength: 50 })),
};

export const CreateFeatureRequest = Type.Object({
  name: Type.String({ maxLength: 255 }),
  type: StringEnum(FEATURE_TYPES),
  lookup_key: Type.Optional(Type.String({ maxLength: 255 })),
  meter_id: Type.Optional(Type.String({ maxLength: 50 })),
  meter: Type.Optional(CreateMeterRequest),
  ...featureFields,
});

export const UpdateFeatureRequest = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 255 })),
  filters: Type.Optional(Type.Array(MeterFilterSchema, { maxItems: 100 })),
  ...featureFields,
});

export const CloneFeatureRequest = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 255 })),
  lookup_key: Type.Optional(Type.String({ maxLength: 255 })),
  description: Type.Optional(Type.String({ maxLength: 4096 })),
  metadata: Type.Optional(Metadata),
});

export const FeatureResponse = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    lookup_key: Type.String(),
    description: Type.String(),
    type: Type.String(),
    meter_id: Type.String(),
    meter: Type.Optional(MeterResponse),
    metadata: Metadata,
    unit_singular: Type.String(),
    unit_plural: Type.String(),
    reporting_unit: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    alert_settings: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    group_id: Type.String(),
    ...audit,
  },
  { title: 'FeatureResponse' },
);

export const FeatureSearchRequest = Type.Object({
  ...SearchFields,
  feature_ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  lookup_key: Type.Optional(Type.String()),
  lookup_keys: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  meter_ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  name_contains: Type.Optional(Type.String()),
});
export const FeatureListQuery = Type.Object({
  ...ListQueryFields,
  feature_ids: Type.Optional(Type.String({ description: 'comma-separated feature ids' })),
  lookup_key: Type.Optional(Type.String()),
  meter_ids: Type.Optional(Type.String({ description: 'comma-separated meter ids' })),
  name_contains: Type.Optional(Type.String()),
});
export const FeatureList = ListOf(FeatureResponse);
