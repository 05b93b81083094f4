/**
 * The Examples section of `pigeon relay --help` (git/gh style, like the
 * peer's commands in cli/help-examples.ts; the relay imports nothing of cli/).
 */
export const RELAY_HELP_EXAMPLES = `
Examples:
  pigeon relay                                       # self-signed TLS on port 8443, data in ./pigeon-relay-data
  pigeon relay --data /var/lib/pigeon-relay --invite-token-file /etc/pigeon-relay/token
  pigeon relay --cert fullchain.pem --key privkey.pem # a certificate of your own
  pigeon relay --port 0 --json                       # a free port; the listening line as JSON
  pigeon relay --pipe-port off                       # pipes over port 8443 only (no raw pipe port 8444)
(docs/relay-admin.md: install, systemd unit, scale-out)`;
