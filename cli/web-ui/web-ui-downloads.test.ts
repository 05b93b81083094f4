import { describe, expect, it } from 'vitest';
import { contentDisposition, parseDownloadPath } from './web-ui-downloads.js';

describe('web UI downloads', () => {
  it('takes a transfer id and an index, never a path', () => {
    const id = 'ab'.repeat(16);
    expect(parseDownloadPath(`/files/${id}/3`)).toEqual({ transfer: id, index: 3 });
    expect(parseDownloadPath(`/files/${id}/../../etc/passwd`)).toBeNull();
    expect(parseDownloadPath(`/files/${id}/..%2Fsecret`)).toBeNull();
    expect(parseDownloadPath(`/files/../0`)).toBeNull();
    expect(parseDownloadPath(`/files/${id.toUpperCase()}/0`)).toBeNull();
    expect(parseDownloadPath(`/files/${id}/-1`)).toBeNull();
    expect(parseDownloadPath(`/index.html`)).toBeNull();
  });

  it('names the file in ASCII and in UTF-8, with nothing that could end the header value', () => {
    expect(contentDisposition('季度报告 Q3.pdf')).toBe(`attachment; filename="____ Q3.pdf"; filename*=UTF-8''%E5%AD%A3%E5%BA%A6%E6%8A%A5%E5%91%8A%20Q3.pdf`);
    expect(contentDisposition('a"b\\c.txt')).toBe(`attachment; filename="a_b_c.txt"; filename*=UTF-8''a%22b%5Cc.txt`);
  });
});
