import { describe, expect, it } from 'vitest';
import { mentions, shouldNotify, type NotifyContext } from './notify-policy.js';

const ctx = (over: Partial<NotifyContext> = {}): NotifyContext => ({ active: null, focused: false, muted: new Set(), selfName: 'Ann', ...over });

describe('mentions', () => {
  it('finds @name as a word, any case, and @all', () => {
    expect(mentions('@Ann can you look?', 'Ann')).toBe(true);
    expect(mentions('thanks @ann.', 'Ann')).toBe(true);
    expect(mentions('ask @Anna', 'Ann')).toBe(false);
    expect(mentions('Ann, lunch?', 'Ann')).toBe(false);
    expect(mentions('@all meeting at 3', 'Ann')).toBe(true);
    expect(mentions('@所有人 开会', 'Ann')).toBe(true);
    expect(mentions('@王芳你好', '王芳')).toBe(true);
  });
});

describe('shouldNotify', () => {
  it('stays quiet for the open conversation of a focused window only', () => {
    expect(shouldNotify('bob', 'hi', false, ctx({ active: 'bob', focused: true }))).toBe(false);
    expect(shouldNotify('bob', 'hi', false, ctx({ active: 'bob', focused: false }))).toBe(true);
    expect(shouldNotify('bob', 'hi', false, ctx({ active: 'carol', focused: true }))).toBe(true);
  });

  it('stays quiet for a muted conversation, unless a group message mentions me', () => {
    const muted = new Set(['bob', 'group:g1']);
    expect(shouldNotify('bob', '@Ann hi', false, ctx({ muted }))).toBe(false);
    expect(shouldNotify('group:g1', 'lunch?', true, ctx({ muted }))).toBe(false);
    expect(shouldNotify('group:g1', '@Ann lunch?', true, ctx({ muted }))).toBe(true);
  });
});
