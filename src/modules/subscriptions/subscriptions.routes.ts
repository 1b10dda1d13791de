import { Type } from 'typebox';
import { validation } from '../../platform/errors.ts';
import type { App } from '../../platform/http/app-types.ts';
import { ErrorResponse, IdParams } from '../../platform/http/schemas.ts';
import {
  ActivateDraftSubscriptionRequest,
  AddAddonRequest,
  AddonAssociationResponse,
  CreateSubscriptionLineItemRequest,
  DeleteSubscriptionLineItemRequest,
  PauseSubscriptionRequest,
  RemoveAddonRequest,
  ResumeSubscriptionRequest,
  CancelScheduleRequest,
  CancelScheduleResponse,
  GetPendingSchedulesResponse,
  SubscriptionScheduleResponse,
  SubscriptionChangeExecuteResponse,
  SubscriptionChangePreviewResponse,
  SubscriptionChangeRequest,
  SubscriptionLineItemFilter,
  SubscriptionLineItemList,
  SubscriptionLineItemResponse,
  SubscriptionPauseResponse,
  SubscriptionResponseV2,
  SubscriptionV2Query,
  SuccessResponse,
  UpdateSubscriptionLineItemRequest,
  UpdateSubscriptionRequest,
  CancelSubscriptionRequest,
  CancelSubscriptionResponse,
  CreateSubscriptionRequest,
  CustomerEntitlementsResponse,
  EntitlementsQuery,
  SubscriptionEntitlementsResponse,
  SubscriptionList,
  SubscriptionResponse,
  SubscriptionSearchRequest,
} from './subscriptions.schemas.ts';
import type { SubscriptionsService } from './subscriptions.service.ts';

const tags = ['Subscriptions'];

/**
 * Create-request fields of the reference that Tally does not implement yet. Silently dropping them would bill a
 * customer differently from what the caller asked for, so a non-empty value is refused with 400.
 */
const UNSUPPORTED_CREATE_FIELDS = [
  'auto_invoice_threshold',
  'billing_anchor',
  'checkout',
  'commitment_amount',
  'commitment_duration',
  'coupons',
  'enable_true_up',
  'gateway_payment_method_id',
  'inheritance',
  'line_item_commitments',
  'line_item_coupons',
  'line_items',
  'overage_factor',
  'phases',
  'proration_behavior',
  'subscription_coupons',
  'tax_rate_overrides',
];

/** Fields of an `override_line_items[]` element not implemented (custom price units). */
const UNSUPPORTED_OVERRIDE_FIELDS = ['price_unit_amount', 'price_unit_tiers'];
/** Fields of an `addons[]` element (and of POST /subscriptions/addon) that Tally does not implement. */
const UNSUPPORTED_ADDON_FIELDS = ['checkout', 'line_item_commitments', 'override_line_items'];
/** Line-item create fields not implemented: inline prices, commitments, phases. */
const UNSUPPORTED_LINE_ITEM_CREATE_FIELDS = [
  'price',
  'commitment_amount',
  'commitment_duration',
  'commitment_overage_factor',
  'commitment_quantity',
  'commitment_time_buckets',
  'commitment_true_up_enabled',
  'commitment_type',
  'commitment_windowed',
  'subscription_phase_id',
];
/** Line-item update fields not implemented: commitments. */
const UNSUPPORTED_LINE_ITEM_UPDATE_FIELDS = [
  'commitment_amount',
  'commitment_duration',
  'commitment_overage_factor',
  'commitment_quantity',
  'commitment_time_buckets',
  'commitment_true_up_enabled',
  'commitment_type',
  'commitment_windowed',
];
/** Line-item search fields not implemented. */
const UNSUPPORTED_LINE_ITEM_SEARCH_FIELDS = ['current_period_start'];

function isEmpty(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && Object.keys(value).length === 0;
}

function refuseFields(body: unknown, fields: readonly string[], prefix = ''): void {
  if (!body || typeof body !== 'object') return;
  for (const field of fields) {
    const value = (body as Record<string, unknown>)[field];
    if (!isEmpty(value)) throw validation(`${prefix}${field} is not supported yet`, { field: `${prefix}${field}` });
  }
}

function refuseUnsupportedFields(body: unknown): void {
  refuseFields(body, UNSUPPORTED_CREATE_FIELDS);
  const addons = (body as Record<string, unknown> | null)?.addons;
  if (Array.isArray(addons)) {
    addons.forEach((addon, i) => refuseFields(addon, UNSUPPORTED_ADDON_FIELDS, `addons[${i}].`));
  }
  const overrides = (body as Record<string, unknown> | null)?.override_line_items;
  if (Array.isArray(overrides)) {
    overrides.forEach((o, i) => refuseFields(o, UNSUPPORTED_OVERRIDE_FIELDS, `override_line_items[${i}].`));
  }
}

const refusing = (fields: readonly string[]) => async (request: { body: unknown }) =>
  refuseFields(request.body, fields);
const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

export function registerSubscriptionRoutes(app: App, subscriptions: SubscriptionsService): void {
  app.post(
    '/v1/subscriptions',
    {
      schema: {
        tags,
        operationId: 'createSubscription',
        body: CreateSubscriptionRequest,
        response: { 201: SubscriptionResponse, ...errors },
      },
      // Before validation, which drops fields the schema does not list.
      preValidation: async (request) => refuseUnsupportedFields(request.body),
    },
    async (request, reply) =>
      reply.status(201).send(
        await subscriptions.createSubscription(request.ctx, {
          ...request.body,
          subscription_status: request.body.subscription_status ?? undefined,
          addons: request.body.addons ?? undefined,
          override_line_items: request.body.override_line_items ?? undefined,
          credit_grants: request.body.credit_grants ?? undefined,
          override_entitlements: request.body.override_entitlements ?? undefined,
        }),
      ),
  );

  app.post(
    '/v1/subscriptions/search',
    {
      schema: {
        tags,
        operationId: 'querySubscription',
        body: SubscriptionSearchRequest,
        response: { 200: SubscriptionList, ...errors },
      },
    },
    async (request) => subscriptions.searchSubscriptions(request.ctx, request.body),
  );

  app.get(
    '/v1/subscriptions/:id',
    {
      schema: {
        tags,
        operationId: 'getSubscription',
        params: IdParams,
        response: { 200: SubscriptionResponse, ...errors },
      },
    },
    async (request) => subscriptions.getSubscription(request.ctx, request.params.id),
  );

  app.post(
    '/v1/subscriptions/:id/cancel',
    {
      schema: {
        tags,
        operationId: 'cancelSubscription',
        params: IdParams,
        body: CancelSubscriptionRequest,
        response: { 200: CancelSubscriptionResponse, ...errors },
      },
    },
    async (request) => subscriptions.cancelSubscription(request.ctx, request.params.id, request.body),
  );

  app.get(
    '/v1/subscriptions/:id/entitlements',
    {
      schema: {
        tags,
        operationId: 'getSubscriptionEntitlements',
        params: IdParams,
        querystring: EntitlementsQuery,
        response: { 200: SubscriptionEntitlementsResponse, ...errors },
      },
    },
    async (request) =>
      subscriptions.getSubscriptionEntitlements(
        request.ctx,
        request.params.id,
        request.query.feature_ids
          ?.split(',')
          .map((v) => v.trim())
          .filter(Boolean),
      ),
  );

  app.get(
    '/v1/customers/:id/entitlements',
    {
      schema: {
        tags,
        operationId: 'getCustomerEntitlements',
        params: IdParams,
        response: { 200: CustomerEntitlementsResponse, ...errors },
      },
    },
    async (request) => subscriptions.getCustomerEntitlements(request.ctx, { id: request.params.id }),
  );

  app.get(
    '/v1/customers/external/:external_id/entitlements',
    {
      schema: {
        tags,
        operationId: 'getCustomerEntitlementsByExternalId',
        params: Type.Object({ external_id: Type.String({ minLength: 1, maxLength: 255 }) }),
        response: { 200: CustomerEntitlementsResponse, ...errors },
      },
    },
    async (request) => subscriptions.getCustomerEntitlements(request.ctx, { externalId: request.params.external_id }),
  );

  app.get(
    '/v1/customers/external/:external_id/subscriptions',
    {
      schema: {
        tags,
        operationId: 'getCustomerSubscriptionsByExternalId',
        params: Type.Object({ external_id: Type.String({ minLength: 1, maxLength: 255 }) }),
        querystring: Type.Object({ expand: Type.Optional(Type.String()) }),
        response: { 200: SubscriptionList, ...errors },
      },
    },
    async (request) =>
      subscriptions.listCustomerSubscriptions(request.ctx, request.params.external_id, request.query.expand),
  );

  app.put(
    '/v1/subscriptions/:id',
    {
      schema: {
        tags,
        operationId: 'updateSubscription',
        params: IdParams,
        body: UpdateSubscriptionRequest,
        response: { 200: SubscriptionResponse, ...errors },
      },
    },
    async (request) => subscriptions.updateSubscription(request.ctx, request.params.id, request.body),
  );

  app.get(
    '/v1/subscriptions/:id/v2',
    {
      schema: {
        tags,
        operationId: 'getSubscriptionV2',
        params: IdParams,
        querystring: SubscriptionV2Query,
        response: { 200: SubscriptionResponseV2, ...errors },
      },
    },
    async (request) => subscriptions.getSubscriptionV2(request.ctx, request.params.id, request.query.expand),
  );

  app.post(
    '/v1/subscriptions/:id/activate',
    {
      schema: {
        tags,
        operationId: 'activateSubscription',
        params: IdParams,
        body: ActivateDraftSubscriptionRequest,
        response: { 200: SubscriptionResponse, ...errors },
      },
    },
    async (request) => subscriptions.activateSubscription(request.ctx, request.params.id, request.body),
  );

  app.post(
    '/v1/subscriptions/:id/pause',
    {
      schema: {
        tags,
        operationId: 'pauseSubscription',
        params: IdParams,
        body: PauseSubscriptionRequest,
        response: { 200: SubscriptionPauseResponse, ...errors },
      },
    },
    async (request) => subscriptions.pauseSubscription(request.ctx, request.params.id, request.body),
  );

  app.post(
    '/v1/subscriptions/:id/resume',
    {
      schema: {
        tags,
        operationId: 'resumeSubscription',
        params: IdParams,
        body: ResumeSubscriptionRequest,
        response: { 200: SubscriptionPauseResponse, ...errors },
      },
    },
    async (request) => subscriptions.resumeSubscription(request.ctx, request.params.id, request.body),
  );

  app.get(
    '/v1/subscriptions/:id/pauses',
    {
      schema: {
        tags,
        operationId: 'listSubscriptionPauses',
        params: IdParams,
        response: { 200: Type.Array(SubscriptionPauseResponse), ...errors },
      },
    },
    async (request) => subscriptions.listSubscriptionPauses(request.ctx, request.params.id),
  );

  app.post(
    '/v1/subscriptions/addon',
    {
      schema: {
        tags,
        operationId: 'addSubscriptionAddon',
        body: AddAddonRequest,
        response: { 200: AddonAssociationResponse, ...errors },
      },
      preValidation: refusing(UNSUPPORTED_ADDON_FIELDS),
    },
    async (request) => subscriptions.addAddonToSubscription(request.ctx, request.body),
  );

  app.delete(
    '/v1/subscriptions/addon',
    {
      schema: {
        tags,
        operationId: 'removeSubscriptionAddon',
        body: RemoveAddonRequest,
        response: { 200: SuccessResponse, ...errors },
      },
    },
    async (request) => subscriptions.removeAddonFromSubscription(request.ctx, request.body),
  );

  app.get(
    '/v1/subscriptions/:id/addons/associations',
    {
      schema: {
        tags,
        operationId: 'getSubscriptionAddonAssociations',
        params: IdParams,
        response: { 200: Type.Array(AddonAssociationResponse), ...errors },
      },
    },
    async (request) => subscriptions.listAddonAssociations(request.ctx, request.params.id),
  );

  app.post(
    '/v1/subscriptions/:id/lineitems',
    {
      schema: {
        tags,
        operationId: 'createSubscriptionLineItem',
        params: IdParams,
        body: CreateSubscriptionLineItemRequest,
        response: { 201: SubscriptionLineItemResponse, ...errors },
      },
      preValidation: refusing(UNSUPPORTED_LINE_ITEM_CREATE_FIELDS),
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await subscriptions.createSubscriptionLineItem(request.ctx, request.params.id, request.body)),
  );

  app.put(
    '/v1/subscriptions/lineitems/:id',
    {
      schema: {
        tags,
        operationId: 'updateSubscriptionLineItem',
        params: IdParams,
        body: UpdateSubscriptionLineItemRequest,
        response: { 200: SubscriptionLineItemResponse, ...errors },
      },
      preValidation: refusing(UNSUPPORTED_LINE_ITEM_UPDATE_FIELDS),
    },
    async (request) => subscriptions.updateSubscriptionLineItem(request.ctx, request.params.id, request.body),
  );

  app.delete(
    '/v1/subscriptions/lineitems/:id',
    {
      schema: {
        tags,
        operationId: 'deleteSubscriptionLineItem',
        params: IdParams,
        body: Type.Optional(DeleteSubscriptionLineItemRequest),
        response: { 200: SubscriptionLineItemResponse, ...errors },
      },
    },
    async (request) => subscriptions.deleteSubscriptionLineItem(request.ctx, request.params.id, request.body ?? {}),
  );

  app.post(
    '/v1/subscriptions/lineitems/search',
    {
      schema: {
        tags,
        operationId: 'querySubscriptionLineItems',
        body: SubscriptionLineItemFilter,
        response: { 200: SubscriptionLineItemList, ...errors },
      },
      preValidation: refusing(UNSUPPORTED_LINE_ITEM_SEARCH_FIELDS),
    },
    async (request) => subscriptions.searchSubscriptionLineItems(request.ctx, request.body),
  );

  app.post(
    '/v1/subscriptions/:id/change/preview',
    {
      schema: {
        tags,
        operationId: 'previewSubscriptionChange',
        params: IdParams,
        body: SubscriptionChangeRequest,
        response: { 200: SubscriptionChangePreviewResponse, ...errors },
      },
    },
    async (request) => subscriptions.previewSubscriptionChange(request.ctx, request.params.id, request.body),
  );

  app.post(
    '/v1/subscriptions/:id/change/execute',
    {
      schema: {
        tags,
        operationId: 'executeSubscriptionChange',
        params: IdParams,
        body: SubscriptionChangeRequest,
        response: { 200: SubscriptionChangeExecuteResponse, ...errors },
      },
    },
    async (request) => subscriptions.executeSubscriptionChange(request.ctx, request.params.id, request.body),
  );

  // Scheduled changes (the reference document bakes `/v1` into these paths; they are served under the API's `/v1`).
  app.get(
    '/v1/subscriptions/:id/schedules',
    {
      schema: {
        tags,
        operationId: 'listSubscriptionSchedules',
        params: IdParams,
        response: { 200: GetPendingSchedulesResponse, ...errors },
      },
    },
    async (request) => subscriptions.listSubscriptionSchedules(request.ctx, request.params.id),
  );

  app.get(
    '/v1/subscription-schedules/:id',
    {
      schema: {
        tags,
        operationId: 'getSubscriptionSchedule',
        params: IdParams,
        response: { 200: SubscriptionScheduleResponse, ...errors },
      },
    },
    async (request) => subscriptions.getSubscriptionSchedule(request.ctx, request.params.id),
  );

  app.post(
    '/v1/subscriptions/schedules/:id/cancel',
    {
      schema: {
        tags,
        operationId: 'cancelSubscriptionSchedule',
        params: IdParams,
        body: CancelScheduleRequest,
        response: { 200: CancelScheduleResponse, ...errors },
      },
      // The body is optional (the path names the schedule).
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {};
      },
    },
    async (request) => subscriptions.cancelSubscriptionSchedule(request.ctx, request.params.id, request.body),
  );
}
