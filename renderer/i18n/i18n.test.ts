import { describe, expect, it } from 'vitest';
import { en, type MessageKey } from './en.js';
import { systemLang, translator } from './i18n.js';
import type { Plural } from './plural.js';
import { zhCN } from './zh-cn.js';

const forms = (entry: string | Plural): string[] => (typeof entry === 'string' ? [entry] : Object.values(entry));
const placeholders = (entry: string | Plural): string[] => [...new Set(forms(entry).flatMap((text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!)))].sort();

describe('translations', () => {
  it('zh-CN fills the same placeholders as English, and leaves nothing empty that English fills', () => {
    for (const key of Object.keys(en) as MessageKey[]) {
      expect(placeholders(zhCN[key]), key).toEqual(placeholders(en[key]));
      if (en[key] !== '') expect(forms(zhCN[key]).every((f) => f !== ''), key).toBe(true);
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

  it('picks the plural form of the language from the count', () => {
    const t = translator('en');
    expect(t('transfer.uploading', { count: 1 })).toBe('Preparing 1 file…');
    expect(t('transfer.uploading', { count: 2 })).toBe('Preparing 2 files…');
    expect(t('transfer.uploading', { count: 0 })).toBe('Preparing 0 files…');
    expect(t('groups.members', { count: 1 })).toBe('1 member');
    expect(t('offer.total', { count: 1, size: '3 MB' })).toBe('One file, 3 MB');
    expect(t('offer.total', { count: 4, size: '3 MB' })).toBe('4 files, 3 MB in all');
    const zh = translator('zh-CN');
    expect(zh('transfer.uploading', { count: 1 })).toBe('正在准备 1 个文件…');
    expect(zh('transfer.uploading', { count: 5 })).toBe('正在准备 5 个文件…');
  });
});
