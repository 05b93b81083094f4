/**
 * A LocalSend receive cut off by kill -9, then the peer started again: the
 * transfer left open in the ledger is failed with the restart reason (a
 * LocalSend session does not outlive the program) and its partial file is
 * removed, since LocalSend has no resume. A real `pigeon peer --localsend`
 * process on 127.0.0.85 and a scripted LocalSend device on .86 uploading
 * over HTTPS.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import type { ClientRequest } from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TransferInfo } from '../../shared/api/control-api.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import { until } from '../support/ipmsg-client.js';

const PIGEON = '127.0.0.85';
const DEVICE = '127.0.0.86';
/** Size the device declares: large enough that the cut comes well before the end. */
const SIZE = 4 * 1024 * 1024;

const running: PeerProcess[] = [];
const homes: string[] = [];

afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
  for (const h of homes.splice(0)) removeHome(h);
});

async function start(home: string, port: number): Promise<PeerProcess> {
  const p = new PeerProcess({ home, name: 'Office PC', args: ['--discovery-port', String(await freeUdpPort()), '--no-broadcast', '--no-mdns', '--localsend', '--localsend-bind', PIGEON, '--localsend-port', String(port), '--accept-from', 'all', '--downloads', join(home, 'dl')] });
  running.push(p);
  await p.ready();
  return p;
}

/** A request from the device's address to Pigeon's LocalSend server (its self-signed certificate accepted, as LocalSend apps do). */
function request(port: number, path: string, length: number): ClientRequest {
  return https.request({ host: PIGEON, port, method: 'POST', path, localAddress: DEVICE, rejectUnauthorized: false, agent: false, headers: { 'content-length': length } });
}

function post(port: number, path: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(port, path, Buffer.byteLength(body));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function transfers(home: string): Promise<TransferInfo[]> {
  const r = await pigeon(['transfers', '--home', home, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as TransferInfo[];
}

describe('LocalSend receive cut off by kill -9', () => {
  it('is failed with the restart reason on the next start, and its partial file is removed (no resume)', async () => {
    const home = tempHome('ls-restart');
    homes.push(home);
    const port = await freeUdpPort();
    const peer = await start(home, port);
    const api = (route: string, q: Record<string, string> = {}): string => `/api/localsend/v2/${route}?${new URLSearchParams(q).toString()}`;
    const info = { alias: 'Phone', version: '2.1', deviceModel: 'Pixel', deviceType: 'mobile', fingerprint: 'phone-restart-fp', port, protocol: 'https', download: false };
    const prep = await post(port, api('prepare-upload'), JSON.stringify({ info, files: { f: { id: 'f', fileName: 'cut.bin', size: SIZE, fileType: 'application/octet-stream' } } }));
    expect(prep.status).toBe(200);
    const answer = JSON.parse(prep.body) as { sessionId: string; files: Record<string, string> };

    // A quarter of the file, then the connection held open while the peer is killed.
    const upload = request(port, api('upload', { sessionId: answer.sessionId, fileId: 'f', token: answer.files.f! }), SIZE);
    upload.on('error', () => {});
    upload.write(Buffer.alloc(SIZE / 4, 7));
    const part = join(home, 'dl', 'cut.bin.pigeon-part');
    await until(() => (existsSync(part) && statSync(part).size > 0) || undefined, 'partial file on disk');
    const before = (await transfers(home)).find((t) => t.names.includes('cut.bin'))!;
    expect(before.state).toBe('accepted');
    await peer.kill9();
    upload.destroy();
    expect(existsSync(part)).toBe(true);

    await start(home, port);
    const after = (await transfers(home)).find((t) => t.id === before.id)!;
    expect(after.state).toBe('failed');
    expect(after.error).toMatch(/restarted; LocalSend sessions end with the program/);
    expect(readdirSync(join(home, 'dl')).filter((n) => n.startsWith('cut.bin'))).toEqual([]);
  });
});
