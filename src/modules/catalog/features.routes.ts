import type { App } from '../../platform/http/app-types.ts';
import { ErrorResponse, IdParams, SuccessMessage } from '../../platform/http/schemas.ts';
import { deletedMessage, splitList } from './catalog.common.ts';
import {
  CloneFeatureRequest,
  CreateFeatureRequest,
  CreateMeterRequest,
  FeatureList,
  FeatureListQuery,
  FeatureResponse,
  FeatureSearchRequest,
  MeterList,
  MeterListQuery,
  MeterResponse,
  MeterSearchRequest,
  UpdateFeatureRequest,
  UpdateMeterRequest,
} from './features.schemas.ts';
import type { FeaturesService } from './features.service.ts';
import type { MetersService } from './meters.service.ts';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

export function registerMeterRoutes(app: App, meters: MetersService): void {
  const tags = ['Meters'];
  app.post(
    '/v1/meters',
    {
      schema: {
        tags,
        operationId: 'createMeter',
        body: CreateMeterRequest,
        response: { 201: MeterResponse, ...errors },
      },
    },
    async (request, reply) => reply.status(201).send(await meters.createMeter(request.ctx, request.body)),
  );
  app.get(
    '/v1/meters',
    {
      schema: { tags, operationId: 'listMeters', querystring: MeterListQuery, response: { 200: MeterList, ...errors } },
    },
    async (request) => {
      const { meter_ids, ...rest } = request.query;
      return meters.searchMeters(request.ctx, { ...rest, meter_ids: splitList(meter_ids) });
    },
  );
  app.post(
    '/v1/meters/search',
    {
      schema: { tags, operationId: 'queryMeter', body: MeterSearchRequest, response: { 200: MeterList, ...errors } },
    },
    async (request) => meters.searchMeters(request.ctx, request.body),
  );
  app.get(
    '/v1/meters/:id',
    { schema: { tags, operationId: 'getMeter', params: IdParams, response: { 200: MeterResponse, ...errors } } },
    async (request) => meters.getMeter(request.ctx, request.params.id),
  );
  app.put(
    '/v1/meters/:id',
    {
      schema: {
        tags,
        operationId: 'updateMeter',
        params: IdParams,
        body: UpdateMeterRequest,
        response: { 200: MeterResponse, ...errors },
      },
    },
    async (request) => meters.updateMeterFilters(request.ctx, request.params.id, request.body.filters),
  );
  for (const [method, url, operationId] of [
    ['DELETE', '/v1/meters/:id', 'deleteMeter'],
    ['POST', '/v1/meters/:id/disable', 'disableMeter'],
  ] as const) {
    app.route({
      method,
      url,
      schema: { tags, operationId, params: IdParams, response: { 200: SuccessMessage, ...errors } },
      handler: async (request) => {
        await meters.deleteMeter(request.ctx, request.params.id);
        return deletedMessage('meter');
      },
    });
  }
}

export function registerFeatureRoutes(app: App, features: FeaturesService): void {
  const tags = ['Features'];
  app.post(
    '/v1/features',
    {
      schema: {
        tags,
        operationId: 'createFeature',
        body: CreateFeatureRequest,
        response: { 201: FeatureResponse, ...errors },
      },
    },
    async (request, reply) => reply.status(201).send(await features.createFeature(request.ctx, request.body)),
  );
  app.get(
    '/v1/features',
    {
      schema: {
        tags,
        operationId: 'listFeatures',
        querystring: FeatureListQuery,
        response: { 200: FeatureList, ...errors },
      },
    },
    async (request) => {
      const { feature_ids, meter_ids, ...rest } = request.query;
      return features.searchFeatures(request.ctx, {
        ...rest,
        feature_ids: splitList(feature_ids),
        meter_ids: splitList(meter_ids),
      });
    },
  );
  app.post(
    '/v1/features/search',
    {
      schema: {
        tags,
        operationId: 'queryFeature',
        body: FeatureSearchRequest,
        response: { 200: FeatureList, ...errors },
      },
    },
    async (request) => features.searchFeatures(request.ctx, request.body),
  );
  app.get(
    '/v1/features/:id',
    { schema: { tags, operationId: 'getFeature', params: IdParams, response: { 200: FeatureResponse, ...errors } } },
    async (request) => features.getFeature(request.ctx, request.params.id),
  );
  app.put(
    '/v1/features/:id',
    {
      schema: {
        tags,
        operationId: 'updateFeature',
        params: IdParams,
        body: UpdateFeatureRequest,
        response: { 200: FeatureResponse, ...errors },
      },
    },
    async (request) => features.updateFeature(request.ctx, request.params.id, request.body),
  );
  app.post(
    '/v1/features/:id/clone',
    {
      schema: {
        tags,
        operationId: 'cloneFeature',
        params: IdParams,
        body: CloneFeatureRequest,
        response: { 201: FeatureResponse, ...errors },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await features.cloneFeature(request.ctx, request.params.id, request.body)),
  );
  app.delete(
    '/v1/features/:id',
    {
      schema: { tags, operationId: 'deleteFeature', params: IdParams, response: { 200: SuccessMessage, ...errors } },
    },
    async (request) => {
      await features.deleteFeature(request.ctx, request.params.id);
      return deletedMessage('feature');
    },
  );
}
