import type { App } from '../../platform/http/app-types.ts';
import { ErrorResponse, IdParams, SuccessMessage } from '../../platform/http/schemas.ts';
import { deletedMessage, splitList } from './catalog.common.ts';
import {
  AddonList,
  AddonListQuery,
  AddonResponse,
  AddonSearchRequest,
  BulkEntitlementResponse,
  BulkPriceResponse,
  ClonePlanRequest,
  CodeParams,
  CreateAddonRequest,
  CreateBulkEntitlementRequest,
  CreateBulkPriceRequest,
  CreateCreditGrantRequest,
  CreateEntitlementRequest,
  CreatePlanRequest,
  CreatePriceRequest,
  CreatePriceUnitRequest,
  CreditGrantList,
  CreditGrantListQuery,
  CreditGrantResponse,
  DeleteCreditGrantRequest,
  DeletePriceRequest,
  EntitlementList,
  EntitlementListQuery,
  EntitlementResponse,
  EntitlementSearchRequest,
  LookupKeyParams,
  PlanList,
  PlanListQuery,
  PlanResponse,
  PlanSearchRequest,
  PriceList,
  PriceListQuery,
  PriceResponse,
  PriceSearchRequest,
  PriceUnitList,
  PriceUnitListQuery,
  PriceUnitResponse,
  PriceUnitSearchRequest,
  UpdateAddonRequest,
  UpdateCreditGrantRequest,
  UpdateEntitlementRequest,
  UpdatePlanRequest,
  UpdatePriceRequest,
  UpdatePriceUnitRequest,
} from './catalog.schemas.ts';
import type { CreditGrantsService } from './credit-grants.service.ts';
import type { EntitlementsService } from './entitlements.service.ts';
import type { AddonsService, PlansService } from './plans.service.ts';
import type { PricesService } from './prices.service.ts';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };
const deleted = { 200: SuccessMessage, ...errors };

/**
 * DELETE routes whose JSON body is optional (the SDK sends `Content-Type: application/json` with an empty body, and
 * curl sends no body): in their own scope an empty JSON body parses as `{}`, and a missing body becomes `{}` before
 * validation. Everywhere else an empty JSON body stays a 400.
 */
function withOptionalJsonBody(app: App, register: (scoped: App) => void): void {
  void app.register(async (scoped) => {
    const parseJson = scoped.getDefaultJsonParser('error', 'error');
    scoped.removeContentTypeParser('application/json');
    scoped.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (text.trim() === '') return done(null, {});
      return parseJson(request, text, done);
    });
    scoped.addHook('preValidation', async (request) => {
      if (request.body === undefined || request.body === null) request.body = {};
    });
    register(scoped);
  });
}

export function registerPriceRoutes(app: App, prices: PricesService): void {
  const tags = ['Prices'];
  app.post(
    '/v1/prices',
    {
      schema: {
        tags,
        operationId: 'createPrice',
        body: CreatePriceRequest,
        response: { 201: PriceResponse, ...errors },
      },
    },
    async (request, reply) => reply.status(201).send(await prices.createPrice(request.ctx, request.body)),
  );
  app.post(
    '/v1/prices/bulk',
    {
      schema: {
        tags,
        operationId: 'createPricesBulk',
        body: CreateBulkPriceRequest,
        response: { 201: BulkPriceResponse, ...errors },
      },
    },
    async (request, reply) => reply.status(201).send(await prices.createPricesBulk(request.ctx, request.body.items)),
  );
  app.get(
    '/v1/prices',
    {
      schema: { tags, operationId: 'listPrices', querystring: PriceListQuery, response: { 200: PriceList, ...errors } },
    },
    async (request) => {
      const { price_ids, entity_ids, plan_ids, meter_ids, ...rest } = request.query;
      return prices.searchPrices(request.ctx, {
        ...rest,
        price_ids: splitList(price_ids),
        entity_ids: splitList(entity_ids),
        plan_ids: splitList(plan_ids),
        meter_ids: splitList(meter_ids),
      });
    },
  );
  app.post(
    '/v1/prices/search',
    { schema: { tags, operationId: 'queryPrice', body: PriceSearchRequest, response: { 200: PriceList, ...errors } } },
    async (request) => prices.searchPrices(request.ctx, request.body),
  );
  app.get(
    '/v1/prices/lookup/:lookup_key',
    {
      schema: {
        tags,
        operationId: 'getPriceByLookupKey',
        params: LookupKeyParams,
        response: { 200: PriceResponse, ...errors },
      },
    },
    async (request) => prices.getPriceByLookupKey(request.ctx, request.params.lookup_key),
  );
  app.get(
    '/v1/prices/:id',
    { schema: { tags, operationId: 'getPrice', params: IdParams, response: { 200: PriceResponse, ...errors } } },
    async (request) => prices.getPrice(request.ctx, request.params.id),
  );
  app.put(
    '/v1/prices/:id',
    {
      schema: {
        tags,
        operationId: 'updatePrice',
        params: IdParams,
        body: UpdatePriceRequest,
        response: { 200: PriceResponse, ...errors },
      },
    },
    async (request) => prices.updatePrice(request.ctx, request.params.id, request.body),
  );
  withOptionalJsonBody(app, (scoped) => {
    scoped.delete(
      '/v1/prices/:id',
      { schema: { tags, operationId: 'deletePrice', params: IdParams, body: DeletePriceRequest, response: deleted } },
      async (request) => {
        await prices.deletePrice(request.ctx, request.params.id, request.body ?? {});
        return deletedMessage('price');
      },
    );
  });

  const unitTags = ['Price units'];
  app.post(
    '/v1/prices/units',
    {
      schema: {
        tags: unitTags,
        operationId: 'createPriceUnit',
        body: CreatePriceUnitRequest,
        response: { 201: PriceUnitResponse, ...errors },
      },
    },
    async (request, reply) => reply.status(201).send(await prices.createPriceUnit(request.ctx, request.body)),
  );
  app.get(
    '/v1/prices/units',
    {
      schema: {
        tags: unitTags,
        operationId: 'listPriceUnits',
        querystring: PriceUnitListQuery,
        response: { 200: PriceUnitList, ...errors },
      },
    },
    async (request) => prices.searchPriceUnits(request.ctx, request.query),
  );
  app.post(
    '/v1/prices/units/search',
    {
      schema: {
        tags: unitTags,
        operationId: 'queryPriceUnit',
        body: PriceUnitSearchRequest,
        response: { 200: PriceUnitList, ...errors },
      },
    },
    async (request) => prices.searchPriceUnits(request.ctx, request.body),
  );
  app.get(
    '/v1/prices/units/code/:code',
    {
      schema: {
        tags: unitTags,
        operationId: 'getPriceUnitByCode',
        params: CodeParams,
        response: { 200: PriceUnitResponse, ...errors },
      },
    },
    async (request) => prices.getPriceUnitByCode(request.ctx, request.params.code),
  );
  app.get(
    '/v1/prices/units/:id',
    {
      schema: {
        tags: unitTags,
        operationId: 'getPriceUnit',
        params: IdParams,
        response: { 200: PriceUnitResponse, ...errors },
      },
    },
    async (request) => prices.getPriceUnit(request.ctx, request.params.id),
  );
  app.put(
    '/v1/prices/units/:id',
    {
      schema: {
        tags: unitTags,
        operationId: 'updatePriceUnit',
        params: IdParams,
        body: UpdatePriceUnitRequest,
        response: { 200: PriceUnitResponse, ...errors },
      },
    },
    async (request) => prices.updatePriceUnit(request.ctx, request.params.id, request.body),
  );
  app.delete(
    '/v1/prices/units/:id',
    { schema: { tags: unitTags, operationId: 'deletePriceUnit', params: IdParams, response: deleted } },
    async (request) => {
      await prices.deletePriceUnit(request.ctx, request.params.id);
      return deletedMessage('price unit');
    },
  );
}

export function registerCreditGrantRoutes(app: App, creditGrants: CreditGrantsService): void {
  const tags = ['Credit grants'];
  app.post(
    '/v1/creditgrants',
    {
      schema: {
        tags,
        operationId: 'createCreditGrant',
        body: CreateCreditGrantRequest,
        response: { 201: CreditGrantResponse, ...errors },
      },
    },
    async (request, reply) => reply.status(201).send(await creditGrants.createCreditGrant(request.ctx, request.body)),
  );
  app.get(
    '/v1/creditgrants',
    {
      schema: {
        tags,
        operationId: 'listCreditGrants',
        querystring: CreditGrantListQuery,
        response: { 200: CreditGrantList, ...errors },
      },
    },
    async (request) => {
      const { plan_ids, addon_ids, subscription_ids, ...rest } = request.query;
      return creditGrants.searchCreditGrants(request.ctx, {
        ...rest,
        plan_ids: splitList(plan_ids),
        addon_ids: splitList(addon_ids),
        subscription_ids: splitList(subscription_ids),
      });
    },
  );
  app.get(
    '/v1/creditgrants/:id',
    {
      schema: {
        tags,
        operationId: 'getCreditGrant',
        params: IdParams,
        response: { 200: CreditGrantResponse, ...errors },
      },
    },
    async (request) => creditGrants.getCreditGrant(request.ctx, request.params.id),
  );
  app.put(
    '/v1/creditgrants/:id',
    {
      schema: {
        tags,
        operationId: 'updateCreditGrant',
        params: IdParams,
        body: UpdateCreditGrantRequest,
        response: { 200: CreditGrantResponse, ...errors },
      },
    },
    async (request) => creditGrants.updateCreditGrant(request.ctx, request.params.id, request.body),
  );
  withOptionalJsonBody(app, (scoped) => {
    scoped.delete(
      '/v1/creditgrants/:id',
      {
        schema: {
          tags,
          operationId: 'deleteCreditGrant',
          params: IdParams,
          body: DeleteCreditGrantRequest,
          response: deleted,
        },
      },
      async (request) => {
        await creditGrants.deleteCreditGrant(request.ctx, request.params.id);
        return deletedMessage('credit grant');
      },
    );
  });
  for (const [kind, list] of [
    ['plans', creditGrants.listPlanCreditGrants],
    ['addons', creditGrants.listAddonCreditGrants],
  ] as const) {
    app.get(
      `/v1/${kind}/:id/creditgrants`,
      {
        schema: {
          tags,
          operationId: kind === 'plans' ? 'getPlanCreditGrants' : 'getAddonCreditGrants',
          params: IdParams,
          response: { 200: CreditGrantList, ...errors },
        },
      },
      async (request) => list(request.ctx, request.params.id),
    );
  }
}

export function registerEntitlementRoutes(app: App, entitlements: EntitlementsService): void {
  const tags = ['Entitlements'];
  app.post(
    '/v1/entitlements',
    {
      schema: {
        tags,
        operationId: 'createEntitlement',
        body: CreateEntitlementRequest,
        response: { 201: EntitlementResponse, ...errors },
      },
    },
    async (request, reply) => reply.status(201).send(await entitlements.createEntitlement(request.ctx, request.body)),
  );
  app.post(
    '/v1/entitlements/bulk',
    {
      schema: {
        tags,
        operationId: 'createEntitlementsBulk',
        body: CreateBulkEntitlementRequest,
        response: { 201: BulkEntitlementResponse, ...errors },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await entitlements.createEntitlementsBulk(request.ctx, request.body.items)),
  );
  app.get(
    '/v1/entitlements',
    {
      schema: {
        tags,
        operationId: 'listEntitlements',
        querystring: EntitlementListQuery,
        response: { 200: EntitlementList, ...errors },
      },
    },
    async (request) => {
      const { entity_ids, plan_ids, feature_ids, ...rest } = request.query;
      return entitlements.searchEntitlements(request.ctx, {
        ...rest,
        entity_ids: splitList(entity_ids),
        plan_ids: splitList(plan_ids),
        feature_ids: splitList(feature_ids),
      });
    },
  );
  app.post(
    '/v1/entitlements/search',
    {
      schema: {
        tags,
        operationId: 'queryEntitlement',
        body: EntitlementSearchRequest,
        response: { 200: EntitlementList, ...errors },
      },
    },
    async (request) => entitlements.searchEntitlements(request.ctx, request.body),
  );
  app.get(
    '/v1/entitlements/:id',
    {
      schema: {
        tags,
        operationId: 'getEntitlement',
        params: IdParams,
        response: { 200: EntitlementResponse, ...errors },
      },
    },
    async (request) => entitlements.getEntitlement(request.ctx, request.params.id),
  );
  app.put(
    '/v1/entitlements/:id',
    {
      schema: {
        tags,
        operationId: 'updateEntitlement',
        params: IdParams,
        body: UpdateEntitlementRequest,
        response: { 200: EntitlementResponse, ...errors },
      },
    },
    async (request) => entitlements.updateEntitlement(request.ctx, request.params.id, request.body),
  );
  app.delete(
    '/v1/entitlements/:id',
    { schema: { tags, operationId: 'deleteEntitlement', params: IdParams, response: deleted } },
    async (request) => {
      await entitlements.deleteEntitlement(request.ctx, request.params.id);
      return deletedMessage('entitlement');
    },
  );
  for (const [kind, list] of [
    ['plans', entitlements.listPlanEntitlements],
    ['addons', entitlements.listAddonEntitlements],
  ] as const) {
    app.get(
      `/v1/${kind}/:id/entitlements`,
      {
        schema: {
          tags,
          operationId: kind === 'plans' ? 'getPlanEntitlements' : 'getAddonEntitlements',
          params: IdParams,
          response: { 200: EntitlementList, ...errors },
        },
      },
      async (request) => list(request.ctx, request.params.id),
    );
  }
}

export function registerPlanRoutes(app: App, plans: PlansService): void {
  const tags = ['Plans'];
  app.post(
    '/v1/plans',
    {
      schema: { tags, operationId: 'createPlan', body: CreatePlanRequest, response: { 201: PlanResponse, ...errors } },
    },
    async (request, reply) => reply.status(201).send(await plans.create(request.ctx, request.body)),
  );
  app.get(
    '/v1/plans',
    { schema: { tags, operationId: 'listPlans', querystring: PlanListQuery, response: { 200: PlanList, ...errors } } },
    async (request) => {
      const { plan_ids, ...rest } = request.query;
      return plans.search(request.ctx, { ...rest, ids: splitList(plan_ids) });
    },
  );
  app.post(
    '/v1/plans/search',
    { schema: { tags, operationId: 'queryPlan', body: PlanSearchRequest, response: { 200: PlanList, ...errors } } },
    async (request) => {
      const { plan_ids, ...rest } = request.body;
      return plans.search(request.ctx, { ...rest, ids: plan_ids });
    },
  );
  app.get(
    '/v1/plans/:id',
    { schema: { tags, operationId: 'getPlan', params: IdParams, response: { 200: PlanResponse, ...errors } } },
    async (request) => plans.get(request.ctx, request.params.id),
  );
  app.put(
    '/v1/plans/:id',
    {
      schema: {
        tags,
        operationId: 'updatePlan',
        params: IdParams,
        body: UpdatePlanRequest,
        response: { 200: PlanResponse, ...errors },
      },
    },
    async (request) => plans.update(request.ctx, request.params.id, request.body),
  );
  app.post(
    '/v1/plans/:id/clone',
    {
      schema: {
        tags,
        operationId: 'clonePlan',
        params: IdParams,
        body: ClonePlanRequest,
        response: { 201: PlanResponse, ...errors },
      },
    },
    async (request, reply) => reply.status(201).send(await plans.clone(request.ctx, request.params.id, request.body)),
  );
  app.delete(
    '/v1/plans/:id',
    { schema: { tags, operationId: 'deletePlan', params: IdParams, response: deleted } },
    async (request) => {
      await plans.delete(request.ctx, request.params.id);
      return deletedMessage('plan');
    },
  );
}

export function registerAddonRoutes(app: App, addons: AddonsService): void {
  const tags = ['Addons'];
  app.post(
    '/v1/addons',
    {
      schema: {
        tags,
        operationId: 'createAddon',
        body: CreateAddonRequest,
        response: { 201: AddonResponse, ...errors },
      },
    },
    async (request, reply) => reply.status(201).send(await addons.create(request.ctx, request.body)),
  );
  app.get(
    '/v1/addons',
    {
      schema: { tags, operationId: 'listAddons', querystring: AddonListQuery, response: { 200: AddonList, ...errors } },
    },
    async (request) => {
      const { addon_ids, lookup_keys, ...rest } = request.query;
      return addons.search(request.ctx, { ...rest, ids: splitList(addon_ids), lookup_keys: splitList(lookup_keys) });
    },
  );
  app.post(
    '/v1/addons/search',
    { schema: { tags, operationId: 'queryAddon', body: AddonSearchRequest, response: { 200: AddonList, ...errors } } },
    async (request) => {
      const { addon_ids, ...rest } = request.body;
      return addons.search(request.ctx, { ...rest, ids: addon_ids });
    },
  );
  app.get(
    '/v1/addons/lookup/:lookup_key',
    {
      schema: {
        tags,
        operationId: 'getAddonByLookupKey',
        params: LookupKeyParams,
        response: { 200: AddonResponse, ...errors },
      },
    },
    async (request) => addons.getByLookupKey(request.ctx, request.params.lookup_key),
  );
  app.get(
    '/v1/addons/:id',
    { schema: { tags, operationId: 'getAddon', params: IdParams, response: { 200: AddonResponse, ...errors } } },
    async (request) => addons.get(request.ctx, request.params.id),
  );
  app.put(
    '/v1/addons/:id',
    {
      schema: {
        tags,
        operationId: 'updateAddon',
        params: IdParams,
        body: UpdateAddonRequest,
        response: { 200: AddonResponse, ...errors },
      },
    },
    async (request) => addons.update(request.ctx, request.params.id, request.body),
  );
  app.delete(
    '/v1/addons/:id',
    { schema: { tags, operationId: 'deleteAddon', params: IdParams, response: deleted } },
    async (request) => {
      await addons.delete(request.ctx, request.params.id);
      return deletedMessage('addon');
    },
  );
}
