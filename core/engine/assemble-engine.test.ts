/**
 * Assembly builds every part and starts nothing: no timer on the engine's
 * clock, no event. That is what makes the callbacks between parts safe (each
 * runs only once the engine is started, with every part built), and a start
 * that fails part-way can stop parts that never started.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PeerEvent } from '../../shared/api/control-api.js';
import { loadOrCreateIdentity } from '../identity/identity.js';
import { Store } from '../store/store.js';
import { silentLogger, systemRandom } from '../util/components.js';
import { ManualClock } from '../util/manual-clock.js';
import { assembleEngine } from './assemble-engine.js';
import { closeEngine } from './engine-lifecycle.js';
import type { PeerOptions } from './peer-options.js';
import { blankProfile } from './profile-settings.js';

const homes: string[] = [];
afterEach(() => {
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
});

async function assemble(extra: Partial<PeerOptions>) {
  const home = mkdtempSync(join(tmpdir(), 'pigeon-assemble-'));
  homes.push(home);
  const clock = new ManualClock();
  const events: PeerEvent[] = [];
  const identity = await loadOrCreateIdentity(home);
  const store = new Store(join(home, 'pigeon.db'));
  const me = { ...blankProfile(), name: 'Solo' };
  const engine = assembleEngine({ clock, random: systemRandom, logger: silentLogger }, { home, mdns: false, broadcast: [], ...extra }, { identity, store, me }, (e) => events.push(e));
  return { engine, clock, events };
}

describe('assembleEngine', () => {
  it('builds every part without starting a timer or emitting, and closes unstarted', async () => {
    const { engine, clock, events } = await assemble({});
    expect(clock.pending).toBe(0);
    clock.advance(60_000);
    expect(events).toEqual([]);
    expect(engine.relay).toBeNull();
    expect(engine.relayFiles).toBeNull();
    expect(engine.sources.map((s) => s.name)).toHaveLength(1);
    expect(engine.routes.kindOf('anyone')).toBe('native');
    expect(engine.hasWork('anyone')).toBe(false);
    await closeEngine(engine);
    expect(engine.sources).toEqual([]);
  });

  it('with a relay configured, builds the relay and its file carrier, still starting nothing', async () => {
    const { engine, clock, events } = await assemble({ relay: { url: 'wss://127.0.0.1:9', fingerprint: '' }, mdns: true, mdnsInterfaces: ['127.0.0.1'] });
    expect(engine.relay).not.toBeNull();
    expect(engine.relayFiles).not.toBeNull();
    expect(engine.sources).toHaveLength(2);
    expect(clock.pending).toBe(0);
    expect(events).toEqual([]);
    await closeEngine(engine);
  });
});
