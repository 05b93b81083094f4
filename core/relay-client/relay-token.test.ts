import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../store/store.js';
import type { Logger } from '../util/components.js';
import { resolveRelayToken, TOKEN_FILE_SETTING } from './relay-token.js';

let dir: string;
let store: Store;
const logged: string[] = [];
const logger: Logger = { log: (_level, message) => void logged.push(message) };

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pigeon-relay-token-'));
  store = new Store(join(dir, 'pigeon.db'));
  logged.length = 0;
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

function tokenFile(content: string): string {
  const path = join(dir, 'token.txt');
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

describe('resolveRelayToken', () => {
  it('a token for this run is used and never saved', () => {
    expect(resolveRelayToken(store, { relayToken: 'secret-one' }, true, logger)).toBe('secret-one');
    expect(resolveRelayToken(store, {}, false, logger)).toBeUndefined();
    store.checkpoint();
    const found = readdirSync(dir).filter((n) => n.startsWith('pigeon.db') && readFileSync(join(dir, n)).includes('secret-one'));
    expect(found).toEqual([]);
  });

  it('a token file: the path is saved, the content read at each start (trimmed); the run token wins over it', () => {
    const path = tokenFile('secret-two\n');
    expect(resolveRelayToken(store, { relayTokenFile: path }, true, logger)).toBe('secret-two');
    expect(store.getSetting(TOKEN_FILE_SETTING)).toBe(path);
    writeFileSync(path, 'secret-three');
    expect(resolveRelayToken(store, {}, false, logger)).toBe('secret-three');
    expect(resolveRelayToken(store, { relayToken: 'from-env' }, false, logger)).toBe('from-env');
  });

  it('a new relay without a token file forgets the saved one; forgetting the relay forgets it too', () => {
    resolveRelayToken(store, { relayTokenFile: tokenFile('t') }, true, logger);
    expect(resolveRelayToken(store, {}, true, logger)).toBeUndefined();
    expect(store.getSetting(TOKEN_FILE_SETTING)).toBe('');
    resolveRelayToken(store, { relayTokenFile: tokenFile('t') }, false, logger);
    expect(resolveRelayToken(store, {}, null, logger)).toBeUndefined();
    expect(store.getSetting(TOKEN_FILE_SETTING)).toBe('');
  });

  it('an empty or missing token file is a plain error', () => {
    expect(() => resolveRelayToken(store, { relayTokenFile: tokenFile(' \n') }, true, logger)).toThrow(/is empty/);
    expect(() => resolveRelayToken(store, { relayTokenFile: join(dir, 'nope') }, true, logger)).toThrow(/cannot read the relay token file .*ENOENT/);
  });

  it('a token an earlier version saved in clear is used once, then gone, with a warning', () => {
    store.setSetting('relay.token', 'old-secret');
    expect(resolveRelayToken(store, {}, false, logger)).toBe('old-secret');
    expect(store.getSetting('relay.token')).toBeNull();
    expect(logged.filter((m) => m.includes('erased the relay token'))).toHaveLength(1);
    expect(resolveRelayToken(store, {}, false, logger)).toBeUndefined();
  });
});
