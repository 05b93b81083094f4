/**
 * The credit protocol of a bridged pipe (spec §12.11.3), on a RemoteSide
 * whose bus is an array of published messages: it sends while it holds
 * credit, returns credit for what it handed on once a quarter window has
 * gathered and not while paused, closes the pipe when the other instance
 * overruns the window or sends a message it refuses.
 */
import { describe, expect, it } from 'vitest';
import { CloseCodes } from '../close-codes.js';
import { silentLogger } from '../log.js';
import { BusRefusals } from './bus-refusals.js';
import { controlBytes, dataBytes, decodeSideMessage, PIPE_OVERFLOW, PIPE_WINDOW, type PipeControl } from './pipe-wire.js';
import { RemoteSide } from './remote-side.js';

const CHUNK = 64 * 1024;

function side(): { rs: RemoteSide; sent: Uint8Array[]; controls: () => PipeControl[]; dataBytesSent: () => number; refusals: BusRefusals; closed: Promise<[number, string]> } {
  const sent: Uint8Array[] = [];
  const refusals = new BusRefusals(silentLogger);
  const rs = new RemoteSide({ publish: (_subject, d) => sent.push(d), refusals }, 'pigeon.pipe.k.s', '0123456789abcdef', silentLogger);
  const closed = new Promise<[number, string]>((resolve) => rs.once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()])));
  const decoded = () => sent.map(decodeSideMessage);
  return {
    rs,
    sent,
    refusals,
    closed,
    controls: () => decoded().flatMap((m) => (m.t === 'control' ? [m.c] : [])),
    dataBytesSent: () => decoded().reduce((n, m) => n + (m.t === 'data' ? m.bytes.length : 0), 0),
  };
}

describe('RemoteSide credit', () => {
  it('sends a window (and the message that crosses it), then waits for credit', () => {
    const s = side();
    for (let i = 0; i < PIPE_WINDOW / CHUNK + 4; i++) s.rs.send(Buffer.alloc(CHUNK));
    expect(s.dataBytesSent()).toBe(PIPE_WINDOW);
    s.rs.receive(controlBytes({ t: 'credit', n: 2 * CHUNK }));
    expect(s.dataBytesSent()).toBe(PIPE_WINDOW + 2 * CHUNK);
  });

  it('returns credit after a quarter window handed on, and none while paused until resumed', () => {
    const s = side();
    const got: Buffer[] = [];
    s.rs.on('message', (b: Buffer) => got.push(b));
    for (let i = 0; i < PIPE_WINDOW / 4 / CHUNK; i++) s.rs.receive(dataBytes(Buffer.alloc(CHUNK, i)));
    expect(got.length).toBe(PIPE_WINDOW / 4 / CHUNK);
    expect(s.controls()).toEqual([{ v: 1, t: 'credit', n: PIPE_WINDOW / 4 }]);
    s.rs.pause();
    for (let i = 0; i < 8; i++) s.rs.receive(dataBytes(Buffer.alloc(CHUNK)));
    expect(s.controls()).toHaveLength(1);
    s.rs.resume();
    expect(s.controls().at(-1)).toEqual({ v: 1, t: 'credit', n: 8 * CHUNK });
  });

  it('closes the pipe when the other instance overruns the window', async () => {
    const s = side();
    s.rs.pause();
    for (let i = 0; i <= PIPE_OVERFLOW / CHUNK; i++) s.rs.receive(dataBytes(Buffer.alloc(CHUNK)));
    expect(await s.closed).toEqual([CloseCodes.INTERNAL, 'pipe overflow']);
    expect(s.controls().at(-1)).toEqual({ v: 1, t: 'end', code: CloseCodes.INTERNAL, reason: 'pipe overflow' });
  });

  it('closes the pipe on a message of another version rather than lose a credit or an end, and counts it', async () => {
    const s = side();
    s.rs.receive(Buffer.concat([Buffer.of(1), Buffer.from(JSON.stringify({ v: 2, t: 'credit', n: 100 }))]));
    expect(await s.closed).toEqual([CloseCodes.INTERNAL, 'bad message from the other relay instance']);
    expect(s.refusals.count).toBe(1);
  });

  it('ends with the code and reason of an end message', async () => {
    const s = side();
    s.rs.receive(controlBytes({ t: 'end', code: 4006, reason: 'pipe idle' }));
    expect(await s.closed).toEqual([4006, 'pipe idle']);
    expect(s.sent).toEqual([]);
  });
});
