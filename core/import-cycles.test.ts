/**
 * The import graph of core/ has no cycles, type-only imports included: a
 * cycle is two modules that cannot be understood (or changed) one without
 * the other. The walk reads every `import`/`export … from` of the source
 * files, resolves the relative ones, and looks for a back edge. The same
 * graph shows that only the transfer ledger reaches the transfer rows.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CORE = dirname(fileURLToPath(import.meta.url));

/** Every non-test .ts file below `dir`. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) {
      if (d.name !== 'node_modules' && d.name !== 'fixtures') out.push(...sources(p));
    } else if (d.name.endsWith('.ts') && !d.name.endsWith('.test.ts') && !d.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Relative module specifiers of one file, resolved to .ts paths (`import`, `import type`, `export … from`, `import('…')`). */
export function importsOf(file: string, text: string): string[] {
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
  return specs.filter((s) => s.startsWith('.')).map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts')));
}

/** One cycle of the graph as a list of files (first = last), or null. */
export function findCycle(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'open' | 'closed'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (!graph.has(m)) continue;
      if (state.get(m) === 'open') return [...stack.slice(stack.indexOf(m)), m];
      if (!state.has(m)) {
        const c = visit(m);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 'closed');
    return null;
  };
  for (const n of graph.keys()) {
    if (state.has(n)) continue;
    const c = visit(n);
    if (c) return c;
  }
  return null;
}

describe('import graph of core/', () => {
  it('finds a cycle when there is one (the check can fail)', () => {
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['a']],
    ]);
    expect(findCycle(g)).toEqual(['a', 'b', 'c', 'a']);
    expect(findCycle(new Map([['a', ['b']], ['b', []]]))).toBeNull();
    expect(importsOf('/x/y.ts', `import type { A } from './a.js';\nimport {\n  B,\n} from '../b.js';\nexport { C } from './c.js';\nimport 'node:fs';\nconst d = await import('./d.js');`)).toEqual(['/x/a.ts', '/b.ts', '/x/c.ts', '/x/d.ts']);
  });

  it('has no cycles, type-only imports included', () => {
    const files = sources(CORE);
    expect(files.length).toBeGreaterThan(50);
    const graph = new Map(files.map((f) => [f, importsOf(f, readFileSync(f, 'utf8'))]));
    const cycle = findCycle(graph);
    expect(cycle?.map((f) => relative(CORE, f)) ?? null).toBeNull();
  });

  it('only the transfer ledger imports the transfer rows (it is their one writer)', () => {
    const rows = join(CORE, 'transfer', 'transfer-store.ts');
    const importers = sources(CORE).filter((f) => importsOf(f, readFileSync(f, 'utf8')).includes(rows));
    expect(importers.map((f) => relative(CORE, f))).toEqual([join('transfer', 'ledger.ts')]);
  });
});
