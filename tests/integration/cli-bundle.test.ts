/**
 * The CLI bundle (build/bundle-cli.mjs) as `pigeon` runs it (issue 12, start-up
 * CPU): a `pigeon peer` start loads none of the modules the bundle loads on
 * first use (build/lazy-require.cjs), a command that talks to a peer
 * (`send-file`) loads none of the peer's own crypto, TLS, UDP and fs/promises
 * either, the bundle is plain ASCII (one other
 * character makes V8 hold the whole source as UTF-16), and bin/pigeon.js
 * runs the compiled modules when the bundle is missing or older than them,
 * and compiles the bundle as usual when its code cache is damaged.
 * The modules loaded on first use are exercised where they are used: the
 * relay, web UI, LocalSend, chat and file-transfer integration tests all
 * run `pigeon` through the bundle.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { freeUdpPort, removeHome, ROOT, tempHome } from '../support/cli-peer.js';

const BUNDLE = join(ROOT, 'dist', 'cli', 'bundle', 'pigeon.cjs');
/**
 * Node's built-ins that only a relay, the web UI, LocalSend, transfers or
 * `pigeon chat` use. (child_process is loaded on first use too, but a
 * listening socket loads it anyway: Node's net and dgram ask node:cluster.)
 */
const LOADED_ON_FIRST_USE = ['http', 'https', 'zlib', 'worker_threads', 'readline'];
/** Built-ins a peer loads as it starts and the commands that only talk to a peer never use (bundle-cli.mjs, CLIENT_LAZY_MODULES). */
const PEER_ONLY = ['crypto', 'tls', 'dgram', 'fs/promises'];

const homes: string[] = [];
afterAll(() => homes.forEach(removeHome));

/** Runs `pigeon peer` from the bundle until "listening"; returns the built-ins loaded by then, and the events printed. */
async function startFromBundle(): Promise<{ builtins: string[]; listening: boolean }> {
  const home = tempHome('bundle');
  homes.push(home);
  // Prints Node's list of loaded built-ins as soon as the peer says it is listening.
  const script = `
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = (chunk, ...rest) => {
      if (String(chunk).includes('"type":"listening"')) write(JSON.stringify({ type: 'loaded', list: process.moduleLoadList }) + '\\n');
      return write(chunk, ...rest);
    };
    require(${JSON.stringify(BUNDLE)}).main(['node', 'pigeon', ...process.argv.slice(1)]).then((code) => process.exit(code));`;
  const args = ['peer', '--home', home, '--json', '--port', '0', '--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255'];
  const child = spawn(process.execPath, ['-e', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let builtins: string[] = [];
  let listening = false;
  await new Promise<void>((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`pigeon peer exited with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const e = JSON.parse(line) as { type: string; list?: string[] };
      if (e.type === 'loaded') builtins = e.list!.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
      if (e.type === 'listening') {
        listening = true;
        resolve();
      }
    });
  });
  child.removeAllListeners('exit');
  child.kill('SIGINT');
  await new Promise((r) => child.once('exit', r));
  return { builtins, listening };
}

describe('the CLI bundle', () => {
  it('is built (npm ci and npm run build make it)', () => {
    expect(existsSync(BUNDLE), `${BUNDLE} is missing: run node build/bundle-cli.mjs`).toBe(true);
  });

  it('starts a peer without loading what is loaded on first use', async () => {
    const { builtins, listening } = await startFromBundle();
    expect(listening).toBe(true);
    // The peer's own needs are loaded (the list is read correctly)…
    for (const needed of ['dgram', 'tls', 'net', 'crypto']) expect(builtins).toContain(needed);
    // …and none of the others.
    expect(builtins.filter((m) => LOADED_ON_FIRST_USE.includes(m))).toEqual([]);
  });

  it('runs send-file without loading what only a peer uses', async () => {
    const home = tempHome('bundle-client');
    homes.push(home);
    // No peer runs for this profile: the command gets as far as the control socket, then exits 3 with a message.
    const script = `
      require(${JSON.stringify(BUNDLE)}).main(['node', 'pigeon', 'send-file', '--home', ${JSON.stringify(home)}, 'Bob', ${JSON.stringify(home)}]).then((code) => {
        process.stdout.write(JSON.stringify({ code, list: process.moduleLoadList }) + '\\n', () => process.exit(0));
      });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await new Promise((r) => child.once('exit', r));
    const { code, list } = JSON.parse(out) as { code: number; list: string[] };
    expect(code, err).toBe(3);
    expect(err).toMatch(/no peer is running/);
    const builtins = list.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
    expect(builtins).toContain('net');
    expect(builtins.filter((m) => PEER_ONLY.includes(m) || LOADED_ON_FIRST_USE.includes(m))).toEqual([]);
  });

  it('is ASCII only', () => {
    const text = readFileSync(BUNDLE, 'latin1');
    expect(text.match(/[\u0080-\u00ff]/g) ?? []).toEqual([]);
  });
});

describe('bin/pigeon.js', () => {
  /** A copy of the package whose dist/ the test can age: bin/, and dist/ with its node_modules linked. */
  function copyOfPackage(): string {
    const dir = tempHome('bin-copy');
    homes.push(dir);
    cpSync(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true });
    cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true, filter: (src) => !src.includes(`${join('dist', 'renderer')}`) && !src.includes(`${join('dist', 'electron')}`) });
    cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    mkdirSync(join(dir, 'home'));
    return dir;
  }

  /** `pigeon whoami` from a copy; which CLI ran is told by a marker the test writes into the bundle. */
  async function whoRan(dir: string): Promise<string> {
    const child = spawn(process.execPath, [join(dir, 'bin', 'pigeon.js'), 'whoami', '--json', '--home', join(dir, 'home')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => child.once('exit', r));
    return out;
  }

  it('runs the bundle when it is current, and the compiled modules when it is stale or missing', async () => {
    const dir = copyOfPackage();
    const bundle = join(dir, 'dist', 'cli', 'bundle', 'pigeon.cjs');
    // A bundle that says who it is: its main prints a marker.
    const marked = `module.exports = { main: async () => { process.stdout.write('from the bundle\\n'); return 0; } };\n`;
    writeFileSync(bundle, marked);
    const later = new Date(Date.now() + 60_000);
    utimesSync(bundle, later, later);
    expect(await whoRan(dir)).toBe('from the bundle\n');

    // Older than a later tsc build: the compiled modules run (they print the identity).
    const earlier = new Date(Date.now() - 3_600_000);
    utimesSync(bundle, earlier, earlier);
    expect(JSON.parse(await whoRan(dir))).toHaveProperty('id');

    // Missing: the compiled modules too.
    rmSync(bundle);
    expect(JSON.parse(await whoRan(dir))).toHaveProperty('id');
  });

  it('runs the bundle when its code cache is damaged or made by another Node', async () => {
    const dir = copyOfPackage();
    const bundle = join(dir, 'dist', 'cli', 'bundle', 'pigeon.cjs');
    const later = new Date(Date.now() + 60_000);
    utimesSync(bundle, later, later);
    const cache = join(dir, 'dist', 'cli', 'bundle', 'compile-cache');
    const entries = readdirSync(cache, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    expect(entries.length, 'the build fills the code cache').toBeGreaterThan(0);
    // Every entry replaced by bytes no Node wrote; and a folder as another Node version would name its own.
    for (const e of entries) writeFileSync(join(e.parentPath, e.name), Buffer.alloc(4096, 7));
    mkdirSync(join(cache, 'ffffffff'));
    writeFileSync(join(cache, 'ffffffff', 'e299c13a'), Buffer.alloc(4096, 9));
    expect(JSON.parse(await whoRan(dir))).toHaveProperty('id');
  });
});

