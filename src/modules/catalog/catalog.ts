import type { Clock } from '../../platform/clock.ts';
import type { Db } from '../../platform/db/database.ts';
import type { App } from '../../platform/http/app-types.ts';
import { registerFeatureRoutes, registerMeterRoutes } from './features.routes.ts';
import { createFeaturesService } from './features.service.ts';
import { createMetersService } from './meters.service.ts';

/** The catalog's services, built together because they read each other (a feature shows its meter, …). */
export function createCatalogServices(deps: { db: Db; clock: Clock }) {
  const meters = createMetersService(deps);
  const features = createFeaturesService({ ...deps, meters });
  return { meters, features };
}
export type CatalogServices = ReturnType<typeof createCatalogServices>;

export function registerCatalogRoutes(app: App, catalog: CatalogServices): void {
  registerMeterRoutes(app, catalog.meters);
  registerFeatureRoutes(app, catalog.features);
}
