/**
 * Who may use the web UI of `pigeon peer --ui`: whoever holds the random token
 * printed in its address (kept in the profile with the port, web-ui-profile.ts,
 * so the link outlives a restart). The token comes in the query string once (the
 * printed link) and is then kept in an HttpOnly, SameSite=Strict cookie, so
 * every request carries it: page, scripts, uploads and the WebSocket upgrade.
 * The Host header must name the loopback listener (a DNS-rebinding page has
 * another host name) and state-changing requests must come from the UI's own
 * origin (another site open in the same browser cannot post uploads or open
 * the WebSocket even if it guessed the port).
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { newWebUiToken, webUiUrl } from './web-ui-profile.js';

export class WebUiAuth {
  port = 0;

  /** `token`: the profile's saved one; a new one when there is none. */
  constructor(readonly token: string = newWebUiToken()) {}

  /** Call once the listener has its port (the cookie name and allowed origins depend on it). */
  setPort(port: number): void {
    this.port = port;
  }

  /** Cookies are not port-scoped: two peers on one machine need two names. */
  get cookieName(): string {
    return `pigeon_ui_${this.port}`;
  }

  get url(): string {
    return webUiUrl({ port: this.port, token: this.token });
  }

  /** The Set-Cookie header that keeps the token for the following requests. */
  cookie(): string {
    return `${this.cookieName}=${this.token}; HttpOnly; SameSite=Strict; Path=/`;
  }

  private hostOk(req: IncomingMessage): boolean {
    const host = req.headers.host ?? '';
    return host === `127.0.0.1:${this.port}` || host === `localhost:${this.port}`;
  }

  /** Same-origin requests only (browsers always send Origin on POST and WebSocket). */
  originOk(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    return origin === `http://127.0.0.1:${this.port}` || origin === `http://localhost:${this.port}`;
  }

  private matches(candidate: string | undefined | null): boolean {
    if (!candidate) return false;
    const a = Buffer.from(candidate);
    const b = Buffer.from(this.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** The token of the request, from the query string or the cookie. */
  private presented(req: IncomingMessage): { fromQuery: boolean; ok: boolean } {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (this.matches(url.searchParams.get('token'))) return { fromQuery: true, ok: true };
    const cookies = (req.headers.cookie ?? '').split(';').map((c) => c.trim());
    const mine = cookies.find((c) => c.startsWith(`${this.cookieName}=`));
    return { fromQuery: false, ok: this.matches(mine?.slice(this.cookieName.length + 1)) };
  }

  /**
   * Checks a request: 'ok', 'ok-set-cookie' (came with the token in the link),
   * or why it is refused.
   */
  check(req: IncomingMessage, opts: { needOrigin: boolean }): 'ok' | 'ok-set-cookie' | 'bad-host' | 'bad-origin' | 'bad-token' {
    if (!this.hostOk(req)) return 'bad-host';
    if (opts.needOrigin && !this.originOk(req)) return 'bad-origin';
    const t = this.presented(req);
    if (!t.ok) return 'bad-token';
    return t.fromQuery ? 'ok-set-cookie' : 'ok';
  }
}
