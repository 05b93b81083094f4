/**
 * Steps shared by the group tests that drive real CLI peers: a one-shot
 * command read as JSON (and required to succeed), and the events that say a
 * group message arrived or a group reached a size.
 */
import { expect } from 'vitest';
import type { PeerEvent } from '../../shared/api/control-api.js';
import { pigeon } from './cli-peer.js';

/** Runs `pigeon ARGS --json`, expects exit 0, and answers the parsed output. */
export async function pigeonJson<T>(args: string[]): Promise<T> {
  const r = await pigeon([...args, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** A group message with this text arrived. */
export const saidInGroup = (text: string) => (e: PeerEvent) => e.type === 'message' && e.message.group !== undefined && e.message.text === text;

/** The peer is in group `gid`, which has `members` members. */
export const groupAt = (gid: string, members: number) => (e: PeerEvent) => e.type === 'group' && e.group.id === gid && e.group.joined && e.group.members.length === members;
