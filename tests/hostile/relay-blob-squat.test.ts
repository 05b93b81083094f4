/**
 * Hostile: blob squatting against a real `pigeon relay` process (issue 13:
 * "an upload that declares the recipient's whole quota, sends 64 KiB and
 * drops, blocks every other file for that recipient for 14 days"). An
 * abandoned upload counts only the bytes it wrote, another file still fits
 * beside it, and the partial upload is deleted after --partial-ttl-minutes.
 */
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import { afterEach, describe, expect, it } from 'vitest';
import { BLOB_PATH, BlobHeaders, blobRequestMessage } from '../../shared/protocol/blob-http.js';
import { clients, makeDevice, signText, type Device } from '../support/relay-ws-client.js';
import { startRelayProcess, stopRelayProcesses, until } from './hostile-relay.js';

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await stopRelayProcesses();
});

const MiB = 1024 * 1024;

/**
 * A signed blob request as a peer makes it (§12.9). With `dropAfter`, a PUT
 * sends that many bytes of its body and then cuts the connection.
 */
function blobRequest(port: number, d: Device, method: string, to: string, blob: string, o: { size?: number; body?: Buffer; dropAfter?: number } = {}): Promise<{ status: number; body: string }> {
  const path = `${BLOB_PATH}/${to}/${blob}`;
  const time = Date.now();
  const size = o.size !== undefined ? String(o.size) : '';
  const offset = o.size !== undefined ? '0' : '';
  const headers: Record<string, string> = {
    [BlobHeaders.device]: d.id,
    [BlobHeaders.time]: String(time),
    [BlobHeaders.signature]: signText(d.key, blobRequestMessage(method, path, d.id, time, size, offset)),
  };
  if (o.size !== undefined) Object.assign(headers, { [BlobHeaders.size]: size, [BlobHeaders.offset]: offset, 'content-length': size });
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, method, path, headers, rejectUnauthorized: false }, (res) => {
      let text = '';
      res.on('data', (b: Buffer) => (text += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', (err) => (o.dropAfter !== undefined ? resolve({ status: 0, body: 'dropped' }) : reject(err)));
    if (o.dropAfter !== undefined) {
      req.write(randomBytes(o.dropAfter), () => setTimeout(() => req.destroy(), 200));
      return;
    }
    req.end(o.body);
  });
}

describe('hostile: blob squat', () => {
  it("an abandoned upload declaring the recipient's whole quota blocks nothing, and is deleted within minutes", async () => {
    const r = await startRelayProcess(['--file-quota', '10M', '--partial-ttl-minutes', '0.05']); // 3 s
    const [bob, mallory, alice] = [makeDevice(), makeDevice(), makeDevice()];
    for (const [d, name] of [[bob, 'Bob'], [mallory, 'Mallory'], [alice, 'Alice']] as const) (await r.connect(d, undefined, name)).ws.close();
    const squat = randomBytes(16).toString('hex');
    await blobRequest(r.port, mallory, 'PUT', bob.id, squat, { size: 10 * MiB, dropAfter: 64 * 1024 });
    await until(() => r.logs().some((l) => l.msg === 'blob upload cut off; kept for resuming'), 5000, 'the relay saw the upload cut off');
    const held = await blobRequest(r.port, mallory, 'HEAD', bob.id, squat);
    const heldAt = Date.now();

    const first = await blobRequest(r.port, alice, 'PUT', bob.id, randomBytes(16).toString('hex'), { size: 5 * MiB, body: randomBytes(5 * MiB) });
    const tooMuch = await blobRequest(r.port, alice, 'PUT', bob.id, randomBytes(16).toString('hex'), { size: 5 * MiB, body: randomBytes(5 * MiB) });
    await until(() => r.logs().some((l) => l.msg === 'abandoned uploads deleted'), 10_000, 'the abandoned upload was deleted');
    const freedAfter = Date.now() - heldAt;
    const gone = await blobRequest(r.port, mallory, 'HEAD', bob.id, squat);
    const second = await blobRequest(r.port, alice, 'PUT', bob.id, randomBytes(16).toString('hex'), { size: 5 * MiB, body: randomBytes(5 * MiB) });
    console.log(
      `blob squat: Mallory declared 10 MiB (Bob's whole --file-quota), sent 64 KiB and dropped (HEAD: ${held.status}); ` +
        `Alice's 5 MiB file: HTTP ${first.status}; a second 5 MiB file while the partial upload was kept: HTTP ${tooMuch.status}; ` +
        `the partial upload was deleted ${freedAfter} ms later (HEAD: ${gone.status}, --partial-ttl-minutes 0.05) and the second file then got HTTP ${second.status}`,
    );
    expect(held.status).toBe(200);
    expect(first.status).toBe(201);
    expect(tooMuch.status).toBe(413); // 5 MiB + 64 KiB + 5 MiB > 10 MiB: the quota itself still holds
    expect(JSON.parse(tooMuch.body)).toMatchObject({ code: 'PIGEON_ERR_RELAY_QUOTA' });
    expect(gone.status).toBe(404);
    expect(second.status).toBe(201);
  });
});
