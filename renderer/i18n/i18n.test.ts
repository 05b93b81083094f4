import { describe, expect, it } from 'vitest';
import { en, type MessageKey } from './en.js';
import { systemLang, translator } from './i18n.js';
import { zhCN } from './zh-cn.js';

const placeholders = (text: string): string[] => [...new Set([...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!))].sort();

describe('translations', () => {
  it('zh-CN fills the same placeholders as English, and leaves nothing empty that English fills', () => {
    for (const key of Object.keys(en) as MessageKey[]) {
      expect(placeholders(zhCN[key]), key).toEqual(placeholders(en[key]));
      if (en[key] !== '') expect(zhCN[key], key).not.toBe('');
    }
  });

  it('follows the system language: any Chinese variant gets zh-CN, else English', () => {
    expect(systemLang(['zh-CN', 'en'])).toBe('zh-CN');
    expect(systemLang(['zh-TW'])).toBe('zh-CN');
    expect(systemLang(['de-DE', 'en-GB'])).toBe('en');
    expect(systemLang(['fr'])).toBe('en');
    expect(systemLang([])).toBe('en');
  });

  it('fills values in', () => {
    expect(translator('en')('transfers.to', { name: 'Bob' })).toBe('To Bob');
    expect(translator('zh-CN')('contacts.unread', { count: 3 })).toBe('3 条未读');
  });
});
