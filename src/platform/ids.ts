import { monotonicFactory } from 'ulid';

/** Prefixes as the reference spells them (`<prefix>_<ULID>`); one table so modules never invent their own. */
export const ID_PREFIX = {
  tenant: 'tenant',
  environment: 'env',
  secret: 'secret',
  customer: 'cust',
  wallet: 'wallet',
  walletTransaction: 'wtxn',
  walletAlert: 'walert',
  feature: 'feat',
  meter: 'meter',
  event: 'event',
  plan: 'plan',
  price: 'price',
  priceUnit: 'price_unit',
  addon: 'addon',
  entitlement: 'ent',
  creditGrant: 'cg',
  creditGrantApplication: 'cga',
  subscription: 'subs',
  subscriptionLineItem: 'subs_line',
  invoice: 'inv',
  invoiceLineItem: 'inv_line',
  payment: 'pay',
  systemEvent: 'sys_event',
  webhookEndpoint: 'whep',
  webhookMessage: 'msg',
  webhookAttempt: 'atmpt',
  job: 'job',
  subscriptionPause: 'pause',
  addonAssociation: 'addon_assoc',
  subscriptionChange: 'subsc',
} as const;

export type IdKind = keyof typeof ID_PREFIX;

const nextUlid = monotonicFactory();

export function newId(kind: IdKind): string {
  return `${ID_PREFIX[kind]}_${nextUlid()}`;
}

/** A bare ULID, for request ids and secrets. */
export function newUlid(): string {
  return nextUlid();
}
