import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Received {
  id: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  receivedAt: number;
}

/**
 * A real webhook receiver on loopback. It answers with `status` (changeable at any time) and records every request.
 * `verified(secret)` checks each recorded request with the standardwebhooks package, as a customer's receiver would.
 */
export interface Receiver {
  url: string;
  received: Received[];
  status: number;
  /** Holds each response this long (to simulate a slow endpoint). */
  delayMs: number;
  onRequest?: (request: Received) => void;
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  verify(secret: string, request: Received): Record<string, unknown>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const sockets = new Set<Socket>();
  const receiver: Receiver = {
    url: '',
    received: [],
    status: 200,
    delayMs: 0,
    async waitFor(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (receiver.received.length < count) {
        if (Date.now() > deadline) throw new Error(`receiver got ${receiver.received.length} of ${count} requests`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    verify(secret, request) {
      return new Webhook(secret).verify(request.body, {
        'webhook-id': String(request.headers['webhook-id']),
        'webhook-timestamp': String(request.headers['webhook-timestamp']),
        'webhook-signature': String(request.headers['webhook-signature']),
      }) as Record<string, unknown>;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const entry = {
        id: String(request.headers['webhook-id']),
        headers: request.headers,
        body,
        receivedAt: performance.now(),
      };
      receiver.received.push(entry);
      receiver.onRequest?.(entry);
      const status = receiver.status;
      const answer = () => {
        response.writeHead(status, { 'content-type': 'text/plain' });
        response.end(status >= 200 && status < 300 ? 'ok' : `receiver says ${status}`);
      };
      if (receiver.delayMs > 0) setTimeout(answer, receiver.delayMs);
      else answer();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return receiver;
}
