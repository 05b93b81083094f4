/** The routing table: a contact owned by a bridge goes through it, every other through the native engine. */
import { describe, expect, it } from 'vitest';
import { ContactRoutes, type BridgeRoute, type ContactEngine } from './contact-routes.js';

function recorder(): ContactEngine & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    ensure: (id) => calls.push(`ensure ${id}`),
    sighted: (id) => calls.push(`sighted ${id}`),
    online: (id) => calls.push(`online ${id}`),
    transfersReach: () => true,
  };
}

function bridge(owned: string[]): BridgeRoute & { ensured: string[] } {
  const ensured: string[] = [];
  return { ensured, owns: (id) => owned.includes(id), ensure: (id) => ensured.push(id) };
}

describe('ContactRoutes', () => {
  it('sends everyone to the native engine while no bridge runs', () => {
    const native = recorder();
    const routes = new ContactRoutes(native);
    expect(routes.kindOf('a')).toBe('native');
    routes.ensure('a');
    routes.of('a').sighted('a');
    expect(native.calls).toEqual(['ensure a', 'sighted a']);
    expect(routes.ipmsg).toBeNull();
    expect(routes.localsend).toBeNull();
  });

  it('sends a bridge contact through its bridge once attached, and back to native after detach', () => {
    const native = recorder();
    const routes = new ContactRoutes(native);
    const ipmsg = bridge(['ip1']);
    const ls = bridge(['ls1']);
    routes.attachIpmsg(ipmsg);
    routes.attachLocalsend(ls);
    expect(routes.kindOf('ip1')).toBe('ipmsg');
    expect(routes.kindOf('ls1')).toBe('localsend');
    expect(routes.kindOf('n1')).toBe('native');
    routes.ensure('ip1');
    routes.ensure('ls1');
    routes.ensure('n1');
    expect(ipmsg.ensured).toEqual(['ip1']);
    expect(ls.ensured).toEqual(['ls1']);
    expect(native.calls).toEqual(['ensure n1']);
    // A bridge contact is never reached by native transfers, nor resumed by them.
    expect(routes.of('ip1').transfersReach('ip1')).toBe(false);
    routes.of('ls1').online('ls1');
    expect(native.calls).toEqual(['ensure n1']);
    routes.detach();
    expect(routes.kindOf('ip1')).toBe('native');
  });

  it('asks IPMsg first when both bridges claim a contact', () => {
    const routes = new ContactRoutes(recorder());
    routes.attachIpmsg(bridge(['x']));
    routes.attachLocalsend(bridge(['x']));
    expect(routes.kindOf('x')).toBe('ipmsg');
  });
});
