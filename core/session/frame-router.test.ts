/**
 * FrameRouter: each frame type goes to the one service that claimed it;
 * double claims and claims of session-level frames are wiring bugs that throw.
 */
import { describe, expect, it } from 'vitest';
import type { SessionFrame } from '../../shared/protocol/session-frames.js';
import type { Logger } from '../util/components.js';
import { FrameRouter } from './frame-router.js';

const channel = { peerId: 'p'.repeat(26) };

describe('FrameRouter', () => {
  it('hands each frame to the service that claimed its type, and drops (with a log line) what nobody claimed', () => {
    const logged: string[] = [];
    const logger: Logger = { log: (_level, message, fields) => void logged.push(`${message} ${String(fields?.type)}`) };
    const router = new FrameRouter<typeof channel>(logger);
    const messenger: SessionFrame[] = [];
    const presence: SessionFrame[] = [];
    router.register(['msg', 'ack'], (_c, f) => void messenger.push(f));
    router.register(['status'], (_c, f) => void presence.push(f));
    router.route(channel, { type: 'ack', ids: ['a'.repeat(32)] });
    router.route(channel, { type: 'status', status: 'away', away: 'lunch' });
    router.route(channel, { type: 'read', ids: ['a'.repeat(32)] });
    expect(messenger.map((f) => f.type)).toEqual(['ack']);
    expect(presence.map((f) => f.type)).toEqual(['status']);
    expect(logged).toEqual(['no service for frame; dropped read']);
    expect(router.routes('msg')).toBe(true);
    expect(router.routes('read')).toBe(false);
  });

  it('refuses a second owner for a type and any claim on hello, ping, pong or bye', () => {
    const router = new FrameRouter<typeof channel>({ log() {} });
    router.register(['offer'], () => {});
    expect(() => router.register(['offer'], () => {})).toThrow(/already routed/);
    for (const t of ['hello', 'ping', 'pong', 'bye'] as const) expect(() => router.register([t], () => {})).toThrow(/belongs to the session/);
  });
});
