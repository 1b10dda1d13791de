import { Type } from 'typebox';
import { ListOf, StringEnum, Timestamp } from '../../platform/http/schemas.ts';

const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);

const endpointFields = {
  url: Type.String({ minLength: 1, maxLength: 2048, description: 'http or https URL that receives the events' }),
  description: Type.String({ maxLength: 1000 }),
  event_types: Type.Array(Type.String({ minLength: 1, maxLength: 100 }), {
    maxItems: 100,
    description: 'event names this endpoint receives; empty or absent means every event',
  }),
  enabled: Type.Boolean(),
};

export const CreateEndpointRequest = Type.Object({
  url: endpointFields.url,
  description: Type.Optional(endpointFields.description),
  event_types: Type.Optional(endpointFields.event_types),
  enabled: Type.Optional(endpointFields.enabled),
});

export const UpdateEndpointRequest = Type.Object({
  url: Type.Optional(endpointFields.url),
  description: Type.Optional(endpointFields.description),
  event_types: Type.Optional(endpointFields.event_types),
  enabled: Type.Optional(endpointFields.enabled),
});

const endpointResponseFields = {
  id: Type.String(),
  url: Type.String(),
  description: Type.String(),
  event_types: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  disabled_reason: Type.String({ description: 'why the endpoint is disabled; empty while enabled' }),
  disabled_at: NullableTimestamp,
  failing_since: Type.Union([Timestamp, Type.Null()], {
    description: 'start of the current run of failed attempts; 5 days of it disables the endpoint',
  }),
  source: StringEnum(['api', 'config']),
  tenant_id: Type.String(),
  environment_id: Type.String(),
  created_at: Timestamp,
  updated_at: Timestamp,
};

export const EndpointResponse = Type.Object(endpointResponseFields, { title: 'WebhookEndpointResponse' });

export const EndpointWithSecretResponse = Type.Object(
  {
    ...endpointResponseFields,
    secret: Type.String({ description: 'whsec_… signing secret; shown only on create and rotate-secret' }),
  },
  { title: 'WebhookEndpointWithSecretResponse' },
);

export const EndpointList = ListOf(EndpointResponse);

export const EndpointListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
});

export const MessageStatus = StringEnum(['pending', 'succeeded', 'failed']);

export const MessageListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
  event_type: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  status: Type.Optional(MessageStatus),
});

const messageFields = {
  id: Type.String({ description: 'also the webhook-id header, the same on every attempt' }),
  endpoint_id: Type.String(),
  event_id: Type.String({ description: 'the state change; shared by the copies sent to several endpoints' }),
  event_type: Type.String(),
  payload: Type.Unknown({ description: 'the exact JSON body sent' }),
  status: MessageStatus,
  attempt_count: Type.Integer(),
  next_attempt_at: NullableTimestamp,
  last_attempt_at: NullableTimestamp,
  delivered_at: NullableTimestamp,
  created_at: Timestamp,
  updated_at: Timestamp,
};

export const MessageResponse = Type.Object(messageFields, { title: 'WebhookMessageResponse' });

export const AttemptResponse = Type.Object(
  {
    id: Type.String(),
    attempted_at: Timestamp,
    status_code: Type.Union([Type.Integer(), Type.Null()], { description: 'null when no response arrived' }),
    latency_ms: Type.Integer(),
    response_excerpt: Type.String({ description: 'first 1 KiB of the response body' }),
    error: Type.String(),
    succeeded: Type.Boolean(),
    next_attempt_at: Type.Union([Timestamp, Type.Null()], { description: 'the retry this attempt scheduled' }),
    trigger: StringEnum(['scheduled', 'resend']),
  },
  { title: 'WebhookAttemptResponse' },
);

export const MessageWithAttemptsResponse = Type.Object(
  { ...messageFields, attempts: Type.Array(AttemptResponse) },
  { title: 'WebhookMessageWithAttemptsResponse' },
);

export const MessageList = ListOf(MessageResponse);
