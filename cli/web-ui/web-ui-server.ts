/**
 * `pigeon peer --ui [PORT]`: serves the React UI on 127.0.0.1 for a headless
 * machine used from a browser. One HTTP server carries the page, the file
 * uploads (streamed to disk, see web-ui-uploads.ts) and a WebSocket bridge
 * that speaks the control API (one JSON request or answer per message,
 * events after `subscribe`), dispatched by the same code as the control
 * socket. Every request must carry the token (web-ui-auth.ts). Port and token
 * come from the profile (web-ui-profile.ts), so the link survives restarts; a
 * page opened with a wrong or old link says how to get the right one.
 */
import { join } from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { handleControlLine, type ControlGuard, type Logger, type Peer } from '../../core/index.js';
import type { PeerEvent, TransferInfo } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError, toErrorInfo } from '../../shared/protocol/errors.js';
import { WebUiAuth } from './web-ui-auth.js';
import { parseDownloadPath, serveDownload } from './web-ui-downloads.js';
import { invalidLinkPage } from './web-ui-invalid-link.js';
import { loadWebUiProfile, saveWebUiProfile } from './web-ui-profile.js';
import { securityHeaders, serveStatic } from './web-ui-static.js';
import { WebUiUploads } from './web-ui-uploads.js';

export { WEB_UI_BRIDGE_PATH as BRIDGE_PATH, WEB_UI_UPLOAD_PATH as UPLOAD_PATH } from '../../shared/api/web-ui-paths.js';
import { WEB_UI_BRIDGE_PATH as BRIDGE_PATH, WEB_UI_UPLOAD_PATH as UPLOAD_PATH } from '../../shared/api/web-ui-paths.js';
/** Largest WebSocket message: a request is at most a long chat message (64 Ki chars, ≤ 256 KiB UTF-8) plus JSON. */
const MAX_WS_MESSAGE = 512 * 1024;

const REFUSALS = {
  'bad-host': 'This address is only served as http://127.0.0.1 or http://localhost.',
  'bad-origin': 'Requests must come from the Pigeon page itself.',
  'bad-token': 'This link is not valid (any more). Run `pigeon ui` on the computer that runs Pigeon: it prints the current link.',
} as const;

export class WebUiServer {
  readonly auth: WebUiAuth;
  private readonly uploads: WebUiUploads;
  private server: Server | null = null;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_WS_MESSAGE });
  private unsubscribeUploads: (() => void) | null = null;

  constructor(
    private readonly peer: Peer,
    private readonly home: string,
    private readonly logger: Logger,
    /** The profile's saved token (web-ui-profile.ts); a new one when absent. */
    token?: string,
  ) {
    this.uploads = new WebUiUploads(home);
    this.auth = new WebUiAuth(token);
  }

  /**
   * Serves the UI on the profile's port and token and saves them, so the
   * link printed now is the link of every later start. `port`: the one asked
   * for with --ui PORT (saved for next time); without it the saved port is
   * tried, and if another program took it, any free port (the link changes:
   * `pigeon ui` prints it).
   */
  static async startForProfile(peer: Peer, home: string, logger: Logger, port: number | undefined): Promise<{ server: WebUiServer; url: string }> {
    const saved = loadWebUiProfile(home);
    const server = new WebUiServer(peer, home, logger, saved?.token);
    let url: string;
    if (port || !saved) {
      url = await server.start(port ?? 0);
    } else {
      try {
        url = await server.start(saved.port);
      } catch (err) {
        if (!(err instanceof PigeonError)) throw err;
        logger.log('warn', 'the saved web UI port is taken: serving on another port (the link changes)', { port: saved.port });
        url = await server.start(0);
      }
    }
    saveWebUiProfile(home, { port: server.auth.port, token: server.auth.token });
    return { server, url };
  }

  /** Listens on 127.0.0.1 (port 0: any free port); resolves with the address to open. */
  async start(port: number): Promise<string> {
    const server = createServer((req, res) => void this.onRequest(req, res));
    server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'EADDRINUSE' ? new PigeonError(ErrorCodes.BAD_REQUEST, `port ${port} is in use: choose another with --ui <port>`) : err),
      );
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.auth.setPort(typeof address === 'object' && address ? address.port : port);
    this.server = server;
    this.unsubscribeUploads = this.peer.on((e) => {
      if (e.type === 'transfer') void this.uploads.onTransfer(e.transfer).catch(() => {});
    });
    return this.auth.url;
  }

  async stop(): Promise<void> {
    this.unsubscribeUploads?.();
    for (const c of this.wss.clients) c.terminate();
    const server = this.server;
    this.server = null;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  private refuse(req: IncomingMessage, res: ServerResponse, why: keyof typeof REFUSALS): void {
    // A person who opened an old or mistyped link in a browser gets a page that says what to do.
    if (why === 'bad-token' && req.method === 'GET' && (req.headers.accept ?? '').includes('text/html')) {
      res.writeHead(403, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(invalidLinkPage());
      return;
    }
    res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(REFUSALS[why] + '\n');
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const isUpload = req.method === 'POST' && url.pathname === UPLOAD_PATH;
      const verdict = this.auth.check(req, { needOrigin: isUpload });
      securityHeaders(res, this.auth.port);
      if (verdict !== 'ok' && verdict !== 'ok-set-cookie') return this.refuse(req, res, verdict);
      if (verdict === 'ok-set-cookie') res.setHeader('Set-Cookie', this.auth.cookie());
      if (isUpload) {
        const stored = await this.uploads.receive(req, url.searchParams.get('batch') ?? '', url.searchParams.get('path') ?? '');
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ ok: true, value: stored }));
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('Method not allowed.\n');
        return;
      }
      const download = parseDownloadPath(url.pathname);
      if (download) {
        const want = { ...download, inline: url.searchParams.get('inline') === '1' };
        return await serveDownload(this.peer, res, want, { head: req.method === 'HEAD', picturesDir: join(this.home, 'pictures') });
      }
      await serveStatic(req, res);
    } catch (err) {
      const info = toErrorInfo(err);
      if (info.code === ErrorCodes.INTERNAL) this.logger.log('error', 'web UI request failed', { error: info.message });
      const status = info.code === ErrorCodes.INTERNAL ? 500 : info.code === ErrorCodes.TRANSFER_NOT_FOUND ? 404 : 400;
      if (!res.headersSent) res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ ok: false, error: info }));
    }
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const verdict = url.pathname === BRIDGE_PATH ? this.auth.check(req, { needOrigin: true }) : 'bad-token';
    if (verdict !== 'ok' && verdict !== 'ok-set-cookie') {
      socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${REFUSALS[verdict]}\n`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.serveBridge(ws));
  }

  private serveBridge(ws: WebSocket): void {
    let unsubscribe: (() => void) | null = null;
    const send = (obj: unknown): void => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(obj));
    };
    ws.on('message', (data, isBinary) => {
      if (isBinary) return send({ id: 0, ok: false, error: { code: ErrorCodes.BAD_REQUEST, message: 'requests are JSON text' } });
      // Offers from the browser name uploaded files only; their batches are kept until the transfer is over.
      let offered: string[] | null = null;
      let release = (): void => {};
      const guard: ControlGuard = (method, params) => {
        if (method === 'sendPicture') offered = [(params as { path: string }).path];
        else if (method === 'sendFiles') offered = (params as { paths: string[] }).paths;
        else return;
        this.uploads.checkOffered(offered);
        release = this.uploads.hold(offered);
      };
      void handleControlLine(this.peer, this.logger, data.toString(), () => {
        if (!unsubscribe) unsubscribe = this.peer.on((event: PeerEvent) => send({ event }));
      }, guard).then((answer) => {
        if (answer.ok && offered) this.uploads.offered(answer.value as TransferInfo, offered);
        release();
        send(answer);
      });
    });
    ws.on('close', () => unsubscribe?.());
    ws.on('error', (err) => this.logger.log('debug', 'web UI socket error', { error: err.message }));
  }
}
