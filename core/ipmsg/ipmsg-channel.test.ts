/**
 * IpmsgChannel's resends on the injected Clock, driven by hand: an
 * unconfirmed SENDMSG goes again (same packet number, RETRYOPT) every
 * RETRY_MS; RECVMSG stops the resends and becomes an ack; a contact that
 * never confirms is reported unreachable after the last attempt; closing the
 * channel stops every timer.
 */
import { describe, expect, it } from 'vitest';
import type { SessionFrame } from '../../shared/protocol/session-frames.js';
import { ManualClock } from '../util/manual-clock.js';
import { Cmd, MsgOpt } from './constants.js';
import { ContactMemory, IpmsgChannel, RETRY_MS, type ChannelLink } from './ipmsg-channel.js';

const MSG_ID = 'm'.repeat(32);

function setup() {
  const clock = new ManualClock();
  const sent: Array<{ command: number; options: number; text: string; packetNo: number }> = [];
  const unreachable: string[] = [];
  let next = 100;
  const link: ChannelLink = {
    send: (command, options, text, packetNo) => {
      const no = packetNo ?? next++;
      sent.push({ command, options, text, packetNo: no });
      return no;
    },
    charset: () => 'utf-8',
    newId: () => 'x',
    clock,
    unreachable: (reason) => unreachable.push(reason),
    failed: () => {},
  };
  const channel = new IpmsgChannel('contact', link, new ContactMemory());
  const frames: SessionFrame[] = [];
  channel.onFrame((f) => frames.push(f));
  channel.send({ type: 'msg', id: MSG_ID, seq: 1, ts: clock.now(), text: 'hello' });
  return { clock, sent, unreachable, channel, frames };
}

describe('IpmsgChannel resends on the injected clock', () => {
  it('resends an unconfirmed message every RETRY_MS with the same packet number, until RECVMSG', () => {
    const { clock, sent, channel, frames } = setup();
    expect(sent).toHaveLength(1);
    clock.advance(RETRY_MS - 1);
    expect(sent).toHaveLength(1);
    clock.advance(1);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toMatchObject({ command: Cmd.SENDMSG, packetNo: sent[0]!.packetNo, text: 'hello' });
    expect(sent[1]!.options & MsgOpt.RETRY).toBe(MsgOpt.RETRY);
    channel.confirmed(sent[0]!.packetNo);
    expect(frames).toEqual([{ type: 'ack', ids: [MSG_ID] }]);
    clock.advance(10 * RETRY_MS);
    expect(sent).toHaveLength(2);
    expect(clock.pending).toBe(0);
  });

  it('reports a contact that never confirms as unreachable after the last attempt', () => {
    const { clock, sent, unreachable } = setup();
    clock.advance(10 * RETRY_MS);
    console.log(`never confirmed: ${sent.length} sends, then unreachable (${unreachable[0]})`);
    expect(sent).toHaveLength(4);
    expect(unreachable).toHaveLength(1);
  });

  it('closing the channel stops its timers', () => {
    const { clock, sent, channel, unreachable } = setup();
    channel.close('contact left');
    expect(clock.pending).toBe(0);
    clock.advance(10 * RETRY_MS);
    expect(sent).toHaveLength(1);
    expect(unreachable).toEqual([]);
  });
});
