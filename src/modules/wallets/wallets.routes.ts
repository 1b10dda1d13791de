import { Type } from 'typebox';
import type { App } from '../../platform/http/app-types.ts';
import { ErrorResponse, IdParams } from '../../platform/http/schemas.ts';
import {
  CreateWalletRequest,
  CustomerWalletItem,
  CustomerWalletsQuery,
  DebitWalletRequest,
  ExpandQuery,
  ModifyWalletRequest,
  ModifyWalletResponse,
  TerminateWalletResponse,
  TopUpWalletRequest,
  TopUpWalletResponse,
  UpdateWalletRequest,
  WalletBalanceResponse,
  WalletList,
  WalletListQuery,
  WalletResponse,
  WalletSearchRequest,
  WalletTransactionList,
  WalletTransactionListQuery,
  WalletTransactionSearchRequest,
} from './wallets.schemas.ts';
import type { WalletsService } from './wallets.service.ts';

const tags = ['Wallets'];
const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

function splitList(value: string | undefined): string[] | undefined {
  return value === undefined
    ? undefined
    : value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
}

export function registerWalletRoutes(app: App, wallets: WalletsService): void {
  app.post(
    '/v1/wallets',
    {
      schema: {
        tags,
        operationId: 'createWallet',
        body: CreateWalletRequest,
        response: { 200: WalletResponse, ...errors },
      },
    },
    async (request) => wallets.createWallet(request.ctx, request.body),
  );

  app.get(
    '/v1/wallets',
    {
      schema: {
        tags,
        operationId: 'listWallets',
        querystring: WalletListQuery,
        response: { 200: WalletList, ...errors },
      },
    },
    async (request) => {
      const { wallet_ids, ...rest } = request.query;
      return wallets.searchWallets(request.ctx, { ...rest, wallet_ids: splitList(wallet_ids) });
    },
  );

  app.post(
    '/v1/wallets/search',
    {
      schema: { tags, operationId: 'queryWallet', body: WalletSearchRequest, response: { 200: WalletList, ...errors } },
    },
    async (request) => wallets.searchWallets(request.ctx, request.body),
  );

  app.post(
    '/v1/wallets/transactions/search',
    {
      schema: {
        tags,
        operationId: 'queryWalletTransaction',
        body: WalletTransactionSearchRequest,
        querystring: Type.Object({ expand: Type.Optional(Type.String()) }),
        response: { 200: WalletTransactionList, ...errors },
      },
    },
    async (request) =>
      wallets.searchWalletTransactions(request.ctx, {
        ...request.body,
        expand: request.body.expand ?? request.query.expand,
      }),
  );

  app.get(
    '/v1/wallets/:id',
    {
      schema: {
        tags,
        operationId: 'getWallet',
        params: IdParams,
        querystring: ExpandQuery,
        response: { 200: WalletResponse, ...errors },
      },
    },
    async (request) => wallets.getWallet(request.ctx, request.params.id, request.query.expand),
  );

  app.put(
    '/v1/wallets/:id',
    {
      schema: {
        tags,
        operationId: 'updateWallet',
        params: IdParams,
        body: UpdateWalletRequest,
        response: { 200: WalletResponse, ...errors },
      },
    },
    async (request) => wallets.updateWallet(request.ctx, request.params.id, request.body),
  );

  app.get(
    '/v1/wallets/:id/transactions',
    {
      schema: {
        tags,
        operationId: 'getWalletTransactions',
        params: IdParams,
        querystring: WalletTransactionListQuery,
        response: { 200: WalletTransactionList, ...errors },
      },
    },
    async (request) => {
      const { id: _ignored, ...query } = request.query;
      return wallets.listWalletTransactions(request.ctx, request.params.id, query);
    },
  );

  app.post(
    '/v1/wallets/:id/top-up',
    {
      schema: {
        tags,
        operationId: 'topUpWallet',
        params: IdParams,
        body: TopUpWalletRequest,
        response: { 200: TopUpWalletResponse, ...errors },
      },
    },
    async (request) => wallets.topUpWallet(request.ctx, request.params.id, request.body),
  );

  app.post(
    '/v1/wallets/:id/debit',
    {
      schema: {
        tags,
        operationId: 'debitWallet',
        params: IdParams,
        body: DebitWalletRequest,
        response: { 200: WalletResponse, ...errors },
      },
    },
    async (request) => (await wallets.debitWallet(request.ctx, request.params.id, request.body)).wallet,
  );

  app.post(
    '/v1/wallets/:id/terminate',
    {
      schema: {
        tags,
        operationId: 'terminateWallet',
        params: IdParams,
        response: { 200: TerminateWalletResponse, ...errors },
      },
    },
    // The reference answers only a message; the SDK models a Wallet. Both are in the body, so both parse.
    async (request) => ({
      ...(await wallets.terminateWallet(request.ctx, request.params.id)),
      message: 'wallet terminated successfully',
    }),
  );

  app.post(
    '/v1/wallets/:id/modify',
    {
      schema: {
        tags,
        operationId: 'modifyWallet',
        params: IdParams,
        body: ModifyWalletRequest,
        response: { 200: ModifyWalletResponse, ...errors },
      },
    },
    async (request) => wallets.modifyWallet(request.ctx, request.params.id, request.body.modification_type),
  );

  app.get(
    '/v1/wallets/:id/balance/real-time',
    {
      schema: {
        tags,
        operationId: 'getWalletBalance',
        params: IdParams,
        querystring: ExpandQuery,
        response: { 200: WalletBalanceResponse, ...errors },
      },
    },
    async (request) => wallets.getRealTimeBalance(request.ctx, request.params.id, request.query.expand),
  );

  app.get(
    '/v1/customers/wallets',
    {
      schema: {
        tags,
        operationId: 'getCustomerWallets',
        querystring: CustomerWalletsQuery,
        response: { 200: Type.Array(CustomerWalletItem), ...errors },
      },
    },
    async (request) => wallets.getCustomerWallets(request.ctx, request.query),
  );

  app.get(
    '/v1/customers/:id/wallets',
    {
      schema: {
        tags,
        operationId: 'getWalletsByCustomerId',
        params: IdParams,
        response: { 200: Type.Array(WalletResponse), ...errors },
      },
    },
    async (request) => wallets.listCustomerWallets(request.ctx, request.params.id),
  );
}
