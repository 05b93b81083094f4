import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionGuard } from './connection-guard.js';
import type { RelayLogger } from '../log.js';

const open: Array<net.Server | net.Socket> = [];
afterEach(async () => {
  for (const x of open.splice(0)) {
    if (x instanceof net.Socket) x.destroy();
    else x.close();
  }
});

/** A real TCP server whose accepted sockets go through the guard; resolves with its port and the server-side sockets. */
async function serve(guard: ConnectionGuard): Promise<{ port: number; accepted: net.Socket[] }> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => {
    s.on('error', () => {});
    if (guard.admit(s)) accepted.push(s);
  });
  open.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, accepted };
}

function dial(port: number, localAddress: string): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    open.push(socket);
    socket.on('error', () => {});
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.once('connect', () => resolve({ socket, closed }));
  });
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 100));
const logs: Array<Record<string, unknown>> = [];
const logger: RelayLogger = { log: (level, msg, fields) => logs.push({ level, msg, ...fields }) };

describe('ConnectionGuard', () => {
  it('holds each address to its unauthenticated and total budgets; other addresses are not affected', async () => {
    const guard = new ConnectionGuard({ maxPerAddress: 4, maxUnauthPerAddress: 2, firstRequestMs: 60_000, logger });
    const { port, accepted } = await serve(guard);
    for (let i = 0; i < 3; i++) await dial(port, '127.0.0.21');
    await settle();
    expect(guard.usage('127.0.0.21')).toEqual({ open: 2, unauth: 2 });
    // Two of them authenticate: room for two more unauthenticated ones, up to four in all.
    for (const s of accepted.slice(0, 2)) guard.authenticated(s);
    for (let i = 0; i < 3; i++) await dial(port, '127.0.0.21');
    await settle();
    expect(guard.usage('127.0.0.21')).toEqual({ open: 4, unauth: 2 });
    await dial(port, '127.0.0.22');
    await settle();
    expect(guard.usage('127.0.0.22')).toEqual({ open: 1, unauth: 1 });
    expect(logs.filter((l) => l.msg === 'connection refused' && l.remote === '127.0.0.21')).toHaveLength(1); // logged once per period
    // Closing gives the budget back.
    for (const s of accepted) s.destroy();
    await settle();
    expect(guard.usage('127.0.0.21')).toEqual({ open: 0, unauth: 0 });
    guard.close();
  });

  it('closes a socket that sends no request in time after TLS, and not one that did', async () => {
    const guard = new ConnectionGuard({ maxPerAddress: 10, maxUnauthPerAddress: 10, firstRequestMs: 200, logger });
    const { port, accepted } = await serve(guard);
    const idle = await dial(port, '127.0.0.23');
    const busy = await dial(port, '127.0.0.24');
    await settle();
    guard.secured(accepted[0]!);
    // The request can be seen before the TLS event (both ready in one turn): no timer then.
    guard.requested(accepted[1]!);
    guard.secured(accepted[1]!);
    await idle.closed;
    await new Promise((r) => setTimeout(r, 300));
    expect(busy.socket.destroyed).toBe(false);
    expect(logs.some((l) => l.msg === 'no request in time' && l.remote === '127.0.0.23')).toBe(true);
    guard.close();
  });
});
