import type { Clock } from '../../platform/clock.ts';
import type { Db } from '../../platform/db/database.ts';
import type { App } from '../../platform/http/app-types.ts';
import { createEntityRegistry, type EntityCheck } from './catalog.entities.ts';
import {
  registerAddonRoutes,
  registerCreditGrantRoutes,
  registerEntitlementRoutes,
  registerPlanRoutes,
  registerPriceRoutes,
} from './catalog.routes.ts';
import { createCreditGrantsService } from './credit-grants.service.ts';
import { createEntitlementsService } from './entitlements.service.ts';
import { registerFeatureRoutes, registerMeterRoutes } from './features.routes.ts';
import { createFeaturesService } from './features.service.ts';
import { createMetersService } from './meters.service.ts';
import { createAddonsService, createPlansService } from './plans.service.ts';
import { createPricesService } from './prices.service.ts';

/** The catalog's services, built together because they read each other (a feature shows its meter, …). */
export function createCatalogServices(deps: { db: Db; clock: Clock }) {
  const entities = createEntityRegistry();
  const meters = createMetersService(deps);
  const features = createFeaturesService({ ...deps, meters });
  const prices = createPricesService({ ...deps, entities });
  const creditGrants = createCreditGrantsService({ ...deps, entities });
  const entitlements = createEntitlementsService({ ...deps, entities });
  const plans = createPlansService({ ...deps, entitlements, creditGrants });
  const addons = createAddonsService({ ...deps, entitlements, creditGrants });
  return {
    meters,
    features,
    prices,
    creditGrants,
    entitlements,
    plans,
    addons,
    /**
     * The subscriptions module registers its existence check here so prices, entitlements and credit grants can
     * hang on a subscription (entity_type / scope SUBSCRIPTION); until then those are refused with 400.
     */
    registerEntityCheck(entityType: 'SUBSCRIPTION', check: EntityCheck) {
      entities.register(entityType, check);
    },
  };
}
export type CatalogServices = ReturnType<typeof createCatalogServices>;

export function registerCatalogRoutes(app: App, catalog: CatalogServices): void {
  registerMeterRoutes(app, catalog.meters);
  registerFeatureRoutes(app, catalog.features);
  registerPriceRoutes(app, catalog.prices);
  registerCreditGrantRoutes(app, catalog.creditGrants);
  registerEntitlementRoutes(app, catalog.entitlements);
  registerPlanRoutes(app, catalog.plans);
  registerAddonRoutes(app, catalog.addons);
}
