/** Unit tests of the chat line parser: slash commands are never sent as messages. */
import { describe, expect, it } from 'vitest';
import { parseChatLine } from './chat-commands.js';

describe('parseChatLine', () => {
  it('plain text is a message, kept as typed', () => {
    expect(parseChatLine('  hello there ')).toEqual({ kind: 'message', text: '  hello there ' });
  });

  it('blank lines are nothing', () => {
    expect(parseChatLine('   ')).toEqual({ kind: 'empty' });
  });

  it('/help, /quit (any case) and their aliases', () => {
    expect(parseChatLine('/help').kind).toBe('help');
    expect(parseChatLine('/HELP').kind).toBe('help');
    expect(parseChatLine('/?').kind).toBe('help');
    expect(parseChatLine('/quit').kind).toBe('quit');
    expect(parseChatLine('/exit').kind).toBe('quit');
  });

  it('/file takes one or more paths, quoted when they hold spaces', () => {
    expect(parseChatLine('/file report.pdf')).toEqual({ kind: 'file', paths: ['report.pdf'] });
    expect(parseChatLine('/file "my notes.txt" b.txt \'c d\'')).toEqual({ kind: 'file', paths: ['my notes.txt', 'b.txt', 'c d'] });
    expect(parseChatLine('/file').kind).toBe('error');
  });

  it('an unknown command is an error, not a message', () => {
    const r = parseChatLine('/shrug');
    expect(r.kind).toBe('error');
    expect(r.kind === 'error' && r.message).toContain('/shrug');
    expect(parseChatLine('/').kind).toBe('error');
  });

  it('//text sends the text with one slash', () => {
    expect(parseChatLine('//shrug')).toEqual({ kind: 'message', text: '/shrug' });
  });
});
