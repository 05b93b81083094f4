/**
 * The session handshake after TLS 1.3: check the peer's certificate key against
 * the device id (derived from it) and, when dialing, against the id discovery
 * announced; exchange hello frames; the hello must name the same id.
 */
import tls from 'node:tls';
import { FrameDecoder, FrameKind, encodeJsonFrame } from '../../shared/protocol/frame-codec.js';
import { parseSessionFrame, type HelloFrame } from '../../shared/protocol/session-frames.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { deviceIdFromSpki, spkiOfCertificate, type Identity } from '../identity/identity.js';
import { systemClock, type Clock } from '../util/components.js';

/** A peer that does not complete TLS and hello within this time is dropped (slowloris guard). */
export const HANDSHAKE_TIMEOUT_MS = 10000;

/** ALPN name: refuses anything that is not a Pigeon v1 peer early. */
export const ALPN = 'pigeon/1';

export interface Handshaken {
  peerId: string;
  spki: Buffer;
  hello: HelloFrame;
  /** Holds whatever arrived behind the hello, not yet decoded (chat frames, or a data connection's fetch). */
  decoder: FrameDecoder;
}

/** TLS options shared by both sides: TLS 1.3 only, our device certificate, our own key check. */
export function tlsOptions(identity: Pick<Identity, 'keyPem' | 'certPem'>): tls.TlsOptions & tls.ConnectionOptions {
  return {
    key: identity.keyPem,
    cert: identity.certPem,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ALPNProtocols: [ALPN],
    // Trust comes from the device id and pinning, checked below, not from a CA.
    rejectUnauthorized: false,
  };
}

export function handshake(
  socket: tls.TLSSocket,
  opts: { /** Set when we dialed: the id discovery announced. */ expectedId?: string; selfHello: HelloFrame; /** Timer source; the engine passes its injected clock (tests' raw clients may leave it out). */ clock?: Clock },
): Promise<Handshaken> {
  return new Promise((resolve, reject) => {
    const decoder = new FrameDecoder();
    let done = false;
    let spki: Buffer | null = null;
    let certId = '';
    const clock = opts.clock ?? systemClock;
    const timer = clock.setTimeout(() => fail(new PigeonError(ErrorCodes.PROTOCOL, 'handshake timed out')), HANDSHAKE_TIMEOUT_MS);
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      cleanup();
      socket.destroy();
      reject(err);
    };
    const cleanup = () => {
      clock.clear(timer);
      socket.off('data', onData);
      socket.off('error', fail);
      socket.off('close', onClose);
    };
    const onClose = () => fail(new PigeonError(ErrorCodes.PROTOCOL, 'connection closed during handshake'));
    const onData = (chunk: Buffer) => {
      try {
        decoder.append(chunk);
        const frame = decoder.next();
        if (!frame) return;
        if (frame.kind !== FrameKind.JSON) throw new PigeonError(ErrorCodes.PROTOCOL, `unknown frame kind ${frame.kind}`);
        const first = parseSessionFrame(frame.payload);
        if (first.type !== 'hello') throw new PigeonError(ErrorCodes.PROTOCOL, `expected hello, got ${first.type}`);
        if (first.id !== certId) throw new PigeonError(ErrorCodes.ID_MISMATCH, `hello names ${first.id} but the key is ${certId}`);
        done = true;
        cleanup();
        resolve({ peerId: certId, spki: spki!, hello: first, decoder });
      } catch (err) {
        fail(err as Error);
      }
    };
    const onSecure = () => {
      const cert = socket.getPeerX509Certificate();
      if (!cert) return fail(new PigeonError(ErrorCodes.PROTOCOL, 'peer sent no certificate'));
      if (socket.getProtocol() !== 'TLSv1.3') return fail(new PigeonError(ErrorCodes.PROTOCOL, 'not TLS 1.3'));
      if (socket.alpnProtocol !== ALPN) return fail(new PigeonError(ErrorCodes.PROTOCOL, `ALPN ${String(socket.alpnProtocol)} is not ${ALPN}`));
      spki = spkiOfCertificate(cert);
      certId = deviceIdFromSpki(spki);
      if (opts.expectedId && certId !== opts.expectedId) {
        return fail(new PigeonError(ErrorCodes.ID_MISMATCH, `expected device ${opts.expectedId}, its key says ${certId}`));
      }
      socket.on('data', onData);
      socket.write(encodeJsonFrame(opts.selfHello));
    };
    socket.on('error', fail);
    socket.on('close', onClose);
    // The server hands over sockets already secure; a dialed socket is not yet.
    if (opts.expectedId === undefined) onSecure();
    else socket.once('secureConnect', onSecure);
  });
}
