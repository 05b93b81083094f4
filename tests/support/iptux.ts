/**
 * A real iptux (the Debian package) for interoperability tests: an Xvfb of its
 * own (display number chosen by Xvfb itself, -displayfd), a throw-away HOME
 * with a profile, and iptux bound to one loopback address. The GUI is driven
 * with xdotool and read back through the clipboard with xclip. Everything is
 * stopped and removed by stop().
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Programs the tests need: iptux itself, a virtual X server, and the GUI drivers. */
const TOOLS = ['iptux', 'Xvfb', 'xdotool', 'xclip'];

/** Why iptux tests cannot run here, or null. */
export function iptuxMissing(): string | null {
  const missing = TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  return missing.length ? `needs ${missing.join(', ')} (apt-get install iptux xvfb xdotool xclip; .ci/run installs them)` : null;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env, timeout: 10_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Iptux {
  private xvfb: ChildProcess | null = null;
  private app: ChildProcess | null = null;
  readonly home = mkdtempSync(join(tmpdir(), 'pigeon-iptux-'));
  private display = '';

  constructor(
    /** Loopback address iptux binds (UDP and TCP 2425). */
    readonly address: string,
    private readonly profile: { nickname: string; group: string },
  ) {}

  private get env(): NodeJS.ProcessEnv {
    return { ...process.env, HOME: this.home, DISPLAY: this.display, XDG_CONFIG_HOME: join(this.home, '.config'), XDG_CACHE_HOME: join(this.home, '.cache') };
  }

  async start(): Promise<void> {
    const xvfb = spawn('Xvfb', ['-displayfd', '3', '-nolisten', 'tcp', '-screen', '0', '1280x1024x24'], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
    this.xvfb = xvfb;
    this.display = await new Promise<string>((resolve, reject) => {
      let out = '';
      const fd = xvfb.stdio[3] as NodeJS.ReadableStream;
      fd.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(`:${out.trim()}`);
      });
      xvfb.once('exit', (code) => reject(new Error(`Xvfb exited (${code})`)));
    });
    mkdirSync(join(this.home, '.iptux'), { recursive: true });
    // iptux reads ~/.iptux/config.<bind address>.json (observed with 0.8.3).
    writeFileSync(join(this.home, '.iptux', `config.${this.address}.json`), JSON.stringify({ nick_name: this.profile.nickname, belong_group: this.profile.group }));
    this.app = spawn('iptux', ['-b', this.address], { env: this.env, cwd: this.home, stdio: 'ignore' });
    await this.waitWindow('^Iptux - ', 15_000);
  }

  async stop(): Promise<void> {
    for (const p of [this.app, this.xvfb]) {
      if (!p || p.exitCode !== null) continue;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await Promise.race([exited, sleep(3000)]);
      if (p.exitCode === null) p.kill('SIGKILL');
    }
    this.app = this.xvfb = null;
    rmSync(this.home, { recursive: true, force: true });
  }

  xdotool(...args: string[]): Promise<string> {
    return run('xdotool', args, this.env);
  }

  /** Window id of the first window whose name matches. */
  async waitWindow(pattern: string, timeoutMs = 10_000): Promise<string> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const ids = await this.xdotool('search', '--name', pattern).catch(() => '');
      const id = ids.split('\n').find(Boolean);
      if (id) return id;
      if (Date.now() > until) throw new Error(`no iptux window named /${pattern}/ within ${timeoutMs} ms`);
      await sleep(200);
    }
  }

  windowName(id: string): Promise<string> {
    return this.xdotool('getwindowname', id).then((s) => s.trim());
  }

  /** Opens the chat window of the first pal in the main list (double click on its row) and lays it out (see layout()). */
  async openFirstPal(): Promise<string> {
    const main = await this.waitWindow('^Iptux - ');
    // The pal list starts below the header bar; its first row sits at about (60, 110) in the window (iptux 0.8.3, no window manager).
    await this.xdotool('mousemove', '--window', main, '60', '112', 'click', '--repeat', '2', '--delay', '100', '1');
    const chat = await this.waitWindow('^Talk with ');
    await this.layout(chat);
    return chat;
  }

  /**
   * Gives the chat window a known geometry: at (0, 300), 1270×500, with the
   * pane divider dragged left so that the attachment buttons (Files, Accept)
   * are on screen; the coordinates below are relative to this layout.
   */
  private async layout(chat: string): Promise<void> {
    await this.xdotool('windowmove', chat, '0', '300');
    await this.xdotool('windowsize', chat, '1270', '500');
    await sleep(500);
    await this.xdotool('mousemove', '--window', chat, '1075', '200', 'mousedown', '1', 'mousemove', '--window', chat, '900', '200', 'mousemove', '--window', chat, '600', '200', 'mouseup', '1');
    await sleep(300);
  }

  private click(chat: string, x: number, y: number): Promise<string> {
    return this.xdotool('mousemove', '--window', chat, String(x), String(y), 'click', '1');
  }

  /** Puts a message into the chat window's input box (pasted, so any script works) and sends it (Ctrl+Enter, iptux's default). */
  async say(chat: string, text: string): Promise<void> {
    await this.xdotool('windowactivate', '--sync', chat).catch(() => this.xdotool('windowfocus', chat));
    await this.click(chat, 150, 400); // the input box, lower left
    await this.setClipboard(text);
    await this.xdotool('key', 'ctrl+v');
    await sleep(200);
    await this.xdotool('key', 'ctrl+Return');
  }

  /** The chat history, as text (select all, copy, read the clipboard). */
  async history(chat: string): Promise<string> {
    await this.click(chat, 300, 150);
    await this.xdotool('key', 'ctrl+a');
    await this.xdotool('key', 'ctrl+c');
    await sleep(300);
    return run('xclip', ['-o', '-selection', 'clipboard'], this.env).catch(() => '');
  }

  /** Attaches a file (Files button) or a folder (Dirs button), path pasted into the chooser's location bar, and sends it. */
  async sendFile(chat: string, path: string, kind: 'file' | 'folder' = 'file'): Promise<void> {
    if (kind === 'file') await this.click(chat, 1160, 388); // "Files" in the enclosure pane
    else await this.click(chat, 1098, 388); // "Dirs"
    const dialog = await this.waitWindow(kind === 'file' ? '^Choose enclosure files' : '^Choose enclosure folders');
    await this.setClipboard(path);
    await this.xdotool('windowactivate', '--sync', dialog).catch(() => '');
    await this.xdotool('key', 'ctrl+l');
    await sleep(200);
    await this.xdotool('key', 'ctrl+v');
    await sleep(200);
    await this.xdotool('key', 'Return');
    await sleep(800);
    await this.click(chat, 556, 481); // "Send"
  }

  /** Accepts the files offered in the chat window into iptux's HOME (the folder dialog's default). */
  async acceptFiles(chat: string): Promise<void> {
    await this.click(chat, 1075, 77); // "Accept" above "Files to be received"
    const dialog = await this.waitWindow('^Please select a folder');
    await this.xdotool('windowactivate', '--sync', dialog).catch(() => '');
    await this.xdotool('key', 'Return');
  }

  /** Puts text on the clipboard. xclip forks a child that serves the selection (until the X server stops); the parent's exit is the signal. */
  private setClipboard(text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const p = spawn('xclip', ['-selection', 'clipboard'], { env: this.env, stdio: ['pipe', 'ignore', 'ignore'] });
      p.once('error', reject);
      p.once('exit', () => resolve());
      p.stdin.end(text);
    });
  }
}
