import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { LinkedText, splitLinks } from './linked-text.js';

describe('links in messages', () => {
  it('links http and https addresses, leaving the sentence punctuation outside', () => {
    expect(splitLinks('see https://example.org/a?b=1. ok')).toEqual([{ text: 'see ' }, { url: 'https://example.org/a?b=1' }, { text: '. ok' }]);
    expect(splitLinks('(http://intranet/wiki)')).toEqual([{ text: '(' }, { url: 'http://intranet/wiki' }, { text: ')' }]);
    expect(splitLinks('https://en.wikipedia.org/wiki/Pigeon_(disambiguation)')).toEqual([{ url: 'https://en.wikipedia.org/wiki/Pigeon_(disambiguation)' }]);
    expect(splitLinks('文档在 https://example.org/doc。')).toEqual([{ text: '文档在 ' }, { url: 'https://example.org/doc' }, { text: '。' }]);
  });

  it('leaves other schemes and bare words as text', () => {
    expect(splitLinks('javascript:alert(1) file:///etc/passwd www.example.org')).toEqual([{ text: 'javascript:alert(1) file:///etc/passwd www.example.org' }]);
    expect(splitLinks('http:// nothing')).toEqual([{ text: 'http:// nothing' }]);
  });

  it('opens links outside the app: a new tab without opener or referrer', () => {
    const html = renderToStaticMarkup(<LinkedText text={'Lunch menu: https://canteen.example/menu <b>'} />);
    console.log(`linked message renders as: ${html}`);
    expect(html).toBe('Lunch menu: <a href="https://canteen.example/menu" target="_blank" rel="noopener noreferrer">https://canteen.example/menu</a> &lt;b&gt;');
  });
});
