import type { App } from '../../platform/http/app-types.ts';
import { ErrorResponse, IdParams } from '../../platform/http/schemas.ts';
import {
  BulkIngestEventRequest,
  GetEventByIdResponse,
  GetEventsRequest,
  GetEventsResponse,
  GetUsageByMeterRequest,
  GetUsageRequest,
  GetUsageResponse,
  IngestEventRequest,
  IngestResponse,
  LookupQuery,
} from './events.schemas.ts';
import type { EventsService, UsageView } from './events.service.ts';

const tags = ['Events'];
const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse };
/** The reference caps event ingestion bodies at 32 MiB. */
const EVENTS_BODY_LIMIT = 32 * 1024 * 1024;

/** Usage values travel as JSON numbers on the reference's wire; they are computed exactly, then converted once here. */
function usageWire(usage: UsageView) {
  return {
    event_name: usage.event_name,
    type: usage.type,
    value: Number(usage.value),
    results: usage.results.map((r) => ({ window_size: r.window_size, value: Number(r.value) })),
  };
}

export function registerEventRoutes(app: App, events: EventsService): void {
  app.post(
    '/v1/events',
    {
      bodyLimit: EVENTS_BODY_LIMIT,
      schema: {
        tags,
        operationId: 'ingestEvent',
        body: IngestEventRequest,
        response: { 202: IngestResponse, ...errors },
      },
    },
    async (request, reply) => {
      const { event_id } = await events.ingestEvent(request.ctx, request.body);
      return reply.status(202).send({ message: 'Event accepted for processing', event_id });
    },
  );

  app.post(
    '/v1/events/bulk',
    {
      bodyLimit: EVENTS_BODY_LIMIT,
      schema: {
        tags,
        operationId: 'ingestEventsBulk',
        body: BulkIngestEventRequest,
        response: { 202: IngestResponse, ...errors },
      },
    },
    async (request, reply) => {
      await events.ingestEvents(request.ctx, request.body.events);
      return reply.status(202).send({ message: 'Events accepted for processing' });
    },
  );

  app.post(
    '/v1/events/query',
    {
      schema: {
        tags,
        operationId: 'listRawEvents',
        body: GetEventsRequest,
        response: { 200: GetEventsResponse, ...errors },
      },
    },
    async (request) => events.queryEvents(request.ctx, request.body),
  );

  app.get(
    '/v1/events/lookup',
    {
      schema: {
        tags,
        operationId: 'lookupEvent',
        querystring: LookupQuery,
        response: { 200: GetEventByIdResponse, ...errors },
      },
    },
    async (request) => ({ event: await events.getEvent(request.ctx, request.query.id), status: 'processed' as const }),
  );

  // The official SDK's getEvent addresses the event by path.
  app.get(
    '/v1/events/:id',
    {
      schema: {
        tags,
        operationId: 'getEvent',
        params: IdParams,
        response: { 200: GetEventByIdResponse, ...errors },
      },
    },
    async (request) => ({ event: await events.getEvent(request.ctx, request.params.id), status: 'processed' as const }),
  );

  app.post(
    '/v1/events/usage',
    {
      schema: {
        tags,
        operationId: 'getUsageStatistics',
        body: GetUsageRequest,
        response: { 200: GetUsageResponse, ...errors },
      },
    },
    async (request) => usageWire(await events.getUsage(request.ctx, request.body)),
  );

  app.post(
    '/v1/events/usage/meter',
    {
      schema: {
        tags,
        operationId: 'getUsageByMeter',
        body: GetUsageByMeterRequest,
        response: { 200: GetUsageResponse, ...errors },
      },
    },
    async (request) => usageWire(await events.getUsageByMeter(request.ctx, request.body)),
  );
}
