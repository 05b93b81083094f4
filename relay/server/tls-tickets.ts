/**
 * TLS session resumption on the relay port (spec §12.1.1): the keys that
 * encrypt the relay's TLS 1.3 session tickets, and how long a ticket lasts.
 *
 * A reconnect that offers a ticket skips the certificate and its ECDSA
 * signature (the relay proves itself by knowing the ticket's key instead);
 * the key exchange stays ephemeral (psk_dhe_ke, OpenSSL's only mode unless
 * asked otherwise), so a resumed session is as forward-secret as a full one.
 *
 * The ticket keys are derived from the relay's private key (HKDF-SHA256)
 * rather than drawn at random at start:
 * - they survive a restart, which is when every client reconnects at once
 *   (the storm this exists for);
 * - every scale-out instance presents the same certificate and key
 *   (docs/relay-admin.md, "One certificate for all instances"), so each one
 *   accepts the tickets the others issued, with nothing to share or rotate;
 * - a new key (another certificate, a reinstalled relay) makes every old
 *   ticket unreadable: the client falls back to a full handshake and checks
 *   the new certificate against its pin like any first connect.
 * Whoever holds the ticket keys can impersonate the relay to a client that
 * offers a ticket, which the private key they are derived from allows anyway.
 */
import { createPrivateKey, hkdfSync } from 'node:crypto';

/** Node's ticket key block: 16 bytes of key name, 16 of HMAC key, 16 of AES key. */
const TICKET_KEYS_BYTES = 48;

/** HKDF info: names what the bytes are for, so the same private key never yields the same bytes for another use. */
const TICKET_KEYS_INFO = 'pigeon relay TLS session ticket keys v1';

/**
 * Seconds a ticket can be resumed: 7 days, the most TLS 1.3 allows (RFC 8446
 * §4.6.1). A ticket dates from its connection's start, and a relay restart
 * or network cut (the storms resumption is for) finds connections that have
 * been open for a working day or a long weekend; a shorter life would turn
 * those reconnects back into full handshakes. A longer one buys nothing: the
 * ticket keys live as long as the certificate anyway.
 */
export const TICKET_LIFETIME_S = 7 * 24 * 3600;

/** The ticket keys of the relay whose private key is `keyPem`. */
export function ticketKeys(keyPem: string): Buffer {
  const der = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  return Buffer.from(hkdfSync('sha256', der, Buffer.alloc(0), TICKET_KEYS_INFO, TICKET_KEYS_BYTES));
}
