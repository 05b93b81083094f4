import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isInside } from './transfer-files.js';

describe('isInside', () => {
  const root = join('/home', 'ann', 'downloads');
  it('accepts the folder and what lies below it', () => {
    expect(isInside(root, root)).toBe(true);
    expect(isInside(root, join(root, 'a', 'b.txt'))).toBe(true);
    expect(isInside(root, join(root, '..foo'))).toBe(true);
  });
  it('refuses what lies beside or above it', () => {
    expect(isInside(root, join(root, '..', 'secret.txt'))).toBe(false);
    expect(isInside(root, '/etc/passwd')).toBe(false);
    expect(isInside(root, join('/home', 'ann', 'downloads-other', 'x'))).toBe(false);
  });
});
