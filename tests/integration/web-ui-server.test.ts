/**
 * The web UI server of `pigeon peer --ui` at the HTTP and WebSocket level,
 * against a real peer process: who gets in (token, Host, Origin), what an
 * upload may be called, what the browser may offer, and that malformed
 * input is answered, not crashed on.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { freeUdpPort, PeerProcess, removeHome, tempHome } from '../support/cli-peer.js';

/** Size of the large upload: well above what the peer process would hold comfortably if it buffered. */
const UPLOAD_MIB = 160;

let peer: PeerProcess;
let home: string;
let origin: string;
let token: string;
let cookie: string;

/** A raw HTTP request (fetch would not let us set Host). */
function http(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const url = new URL(path, origin);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: url.port, path: url.pathname + url.search, method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

function connect(headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${origin.replace('http', 'ws')}/bridge`, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

function call(ws: WebSocket, msg: string): Promise<{ id: number; ok: boolean; value?: unknown; error?: { code: string; message: string } }> {
  return new Promise((resolve) => {
    const onMessage = (data: WebSocket.RawData): void => {
      const parsed = JSON.parse(data.toString()) as { id: number; ok: boolean; event?: unknown };
      if ('event' in parsed) return;
      ws.off('message', onMessage);
      resolve(parsed as never);
    };
    ws.on('message', onMessage);
    ws.send(msg);
  });
}

beforeAll(async () => {
  home = tempHome('webui');
  peer = new PeerProcess({ home, name: 'Alice', args: ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns', '--ui'] });
  await peer.ready();
  const url = new URL(((await peer.waitFor((e) => (e as { type: string }).type === 'web-ui')) as unknown as { url: string }).url);
  origin = url.origin;
  token = url.searchParams.get('token')!;
  const first = await http(`/?token=${token}`);
  expect(first.status).toBe(200);
  cookie = String(first.headers['set-cookie']).split(';')[0]!;
});

afterAll(async () => {
  await peer?.stop();
  removeHome(home);
});

describe('web UI access', () => {
  it('serves the page with the token, sets a port-scoped HttpOnly cookie and a strict CSP', async () => {
    const res = await http(`/?token=${token}`);
    expect(res.body).toContain('<div id="root">');
    expect(String(res.headers['set-cookie'])).toMatch(new RegExp(`^pigeon_ui_${new URL(origin).port}=${token}; HttpOnly; SameSite=Strict`));
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect((await http('/', { headers: { Cookie: cookie } })).status).toBe(200);
    expect((await http('/%E0%A4%A', { headers: { Cookie: cookie } })).status).toBe(400);
    const traversal = await http('/..%2F..%2F..%2Fetc%2Fpasswd', { headers: { Cookie: cookie } });
    expect(traversal.body).not.toContain('root:');
    expect(traversal.body).toContain('<div id="root">'); // answered with the page, not a file outside it
  });

  it('refuses a missing or wrong token and a foreign Host', async () => {
    expect((await http('/')).status).toBe(403);
    expect((await http('/?token=wrong')).status).toBe(403);
    expect((await http('/', { headers: { Cookie: `${cookie.split('=')[0]}=${'A'.repeat(token.length)}` } })).status).toBe(403);
    expect((await http(`/?token=${token}`, { headers: { Host: `evil.example:${new URL(origin).port}` } })).status).toBe(403);
  });

  it('opens the WebSocket only with the token and the page origin', async () => {
    await expect(connect({ Cookie: cookie })).rejects.toThrow('HTTP 403');
    await expect(connect({ Cookie: cookie, Origin: 'http://evil.example' })).rejects.toThrow('HTTP 403');
    await expect(connect({ Origin: origin })).rejects.toThrow('HTTP 403');
    const ws = await connect({ Cookie: cookie, Origin: origin });
    const me = await call(ws, JSON.stringify({ id: 1, method: 'whoami', params: {} }));
    expect(me).toMatchObject({ id: 1, ok: true, value: { name: 'Alice' } });
    ws.close();
  });
});

describe('web UI bridge and uploads', () => {
  it('answers malformed requests with BAD_REQUEST and keeps serving', async () => {
    const ws = await connect({ Cookie: cookie, Origin: origin });
    expect(await call(ws, 'not json')).toMatchObject({ ok: false, error: { code: 'PIGEON_ERR_BAD_REQUEST' } });
    expect(await call(ws, '[]')).toMatchObject({ ok: false, error: { code: 'PIGEON_ERR_BAD_REQUEST' } });
    expect(await call(ws, JSON.stringify({ id: 2, method: 'nope' }))).toMatchObject({ id: 2, ok: false, error: { code: 'PIGEON_ERR_BAD_REQUEST' } });
    expect(await call(ws, JSON.stringify({ id: 3, method: 'send', params: { peer: 'x', text: 5 } }))).toMatchObject({ id: 3, ok: false });
    expect(await call(ws, JSON.stringify({ id: 4, method: 'peers', params: {} }))).toMatchObject({ id: 4, ok: true, value: [] });
    ws.close();
  });

  it('stores an upload under ui-uploads and refuses unsafe names and foreign origins', async () => {
    const post = (path: string, headers: Record<string, string>) => http(`/upload?batch=0123456789abcdef0123456789abcdef&path=${encodeURIComponent(path)}`, { method: 'POST', headers, body: 'hello' });
    const ok = await post('folder/a.txt', { Cookie: cookie, Origin: origin });
    expect(ok.status).toBe(200);
    const stored = (JSON.parse(ok.body) as { value: { path: string } }).value.path;
    expect(stored).toBe(join(home, 'ui-uploads', '0123456789abcdef0123456789abcdef', 'folder'));
    expect(readFileSync(join(stored, 'a.txt'), 'utf8')).toBe('hello');
    for (const bad of ['../escape.txt', '/etc/passwd', 'a/../../b', 'CON', '']) {
      const res = await post(bad, { Cookie: cookie, Origin: origin });
      expect(res.status, bad).toBe(400);
      expect(JSON.parse(res.body)).toMatchObject({ ok: false, error: { code: 'PIGEON_ERR_BAD_REQUEST' } });
    }
    expect(existsSync(join(home, 'escape.txt'))).toBe(false);
    expect((await post('b.txt', { Cookie: cookie })).status).toBe(403);
    expect((await post('b.txt', { Cookie: cookie, Origin: 'http://evil.example' })).status).toBe(403);
    const badBatch = await http('/upload?batch=../../x&path=a', { method: 'POST', headers: { Cookie: cookie, Origin: origin }, body: 'x' });
    expect(badBatch.status).toBe(400);
  });

  it.skipIf(process.platform !== 'linux')('streams a large upload to disk without holding it in memory (reads /proc)', async () => {
    const rss = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${peer.pid}/status`, 'utf8'))![1]) * 1024;
    const before = rss();
    let peak = before;
    const poll = setInterval(() => (peak = Math.max(peak, rss())), 20);
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const url = new URL(origin);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: url.port, method: 'POST', path: '/upload?batch=fedcba9876543210&path=big.bin', headers: { Cookie: cookie, Origin: origin } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      let sent = 0;
      const pump = (): void => {
        while (sent < UPLOAD_MIB) {
          sent++;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    clearInterval(poll);
    expect(status).toBe(200);
    expect(statSync(join(home, 'ui-uploads', 'fedcba9876543210', 'big.bin')).size).toBe(UPLOAD_MIB * chunk.length);
    // The whole body would be 160 MiB; the server's memory grows by its stream buffers and
    // the garbage they leave before a collection only: under 48 MiB on Node 20, 65 MiB seen on
    // Node 24 (its heap grows further before collecting). Held in memory, it would be 160+.
    expect(peak - before).toBeLessThan(100 * 1024 * 1024);
  });

  it('lets the browser offer uploaded files only', async () => {
    const ws = await connect({ Cookie: cookie, Origin: origin });
    const refused = await call(ws, JSON.stringify({ id: 5, method: 'sendFiles', params: { peer: 'Bob', paths: ['/etc/hostname'] } }));
    expect(refused).toMatchObject({ ok: false, error: { code: 'PIGEON_ERR_BAD_REQUEST', message: 'the web UI can only send files dropped on it' } });
    const sneaky = await call(ws, JSON.stringify({ id: 6, method: 'sendFiles', params: { peer: 'Bob', paths: [join(home, 'ui-uploads', '..', 'pigeon.db')] } }));
    expect(sneaky).toMatchObject({ ok: false, error: { code: 'PIGEON_ERR_BAD_REQUEST' } });
    // An uploaded path passes the guard and reaches the engine (which does not know Bob).
    const inside = await call(ws, JSON.stringify({ id: 7, method: 'sendFiles', params: { peer: 'Bob', paths: [join(home, 'ui-uploads', '0123456789abcdef0123456789abcdef', 'folder')] } }));
    expect(inside).toMatchObject({ ok: false, error: { code: 'PIGEON_ERR_PEER_NOT_FOUND' } });
    ws.close();
  });
});
