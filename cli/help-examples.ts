/**
 * The Examples section of each command's help, in the manner of git and gh:
 * a few lines a person can copy, each with what it does. Keyed by the
 * command's path ("group create"); `applyHelpConventions` (help-conventions.ts)
 * adds them, and the CLI test checks that every command has one.
 */

export const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  '': [
    'pigeon peer --name Alice              # run a peer in this terminal',
    'pigeon peers                          # who is on the LAN',
    'pigeon send bob "lunch at 12?"        # names match in any case',
    'pigeon chat Bob                       # talk in the terminal (/help inside)',
    'pigeon send-file Bob report.pdf       # offer a file; pigeon transfers follows it',
    'pigeon relay --help                   # run a relay for offices across subnets',
  ],
  peer: [
    'pigeon peer --name Alice --group Sales     # first start: name and workgroup are saved',
    'pigeon peer --ui                           # also serve the browser UI on 127.0.0.1',
    'pigeon peer --relay wss://relay.example:8443 --relay-fingerprint "ab12 …"',
    'pigeon peer --json | jq .type              # one JSON event per line',
  ],
  peers: ['pigeon peers', 'pigeon peers --json | jq -r ".[] | select(.online) | .name"'],
  send: [
    'pigeon send Bob "lunch at 12?"             # prints the message id',
    'pigeon send bob "done" --wait              # waits until delivered (or left on the relay)',
    'pigeon send Bob "stand-up" --at 9:55       # send later: 17:30, +10m or an ISO time',
    'pigeon send 3f2a9c01 "hi"                  # by device-id prefix',
    'pigeon send Bob,Carol "meeting at 3"       # a copy each: "delivered to N of 2"',
    'pigeon send --workgroup Sales "targets"    # everyone known in the workgroup (or --everyone)',
  ],
  recipients: ['pigeon recipients 5d1c2b3a          # "delivered to 5 of 7" and each one\'s state', 'pigeon recipients 5d1c2b3a --json'],
  scheduled: ['pigeon scheduled', 'pigeon scheduled cancel 0c9e1d8a', 'pigeon scheduled edit 0c9e1d8a --at 17:45'],
  'scheduled list': ['pigeon scheduled list', 'pigeon scheduled list --json'],
  'scheduled cancel': ['pigeon scheduled cancel 0c9e1d8a      # nothing is sent'],
  'scheduled edit': ['pigeon scheduled edit 0c9e1d8a --at 17:45 --text "stand-up, room 2"', 'pigeon scheduled edit 0c9e1d8a --at 00:05 --yes   # tomorrow, said and accepted'],
  history: ['pigeon history Bob', 'pigeon history Bob --limit 20 --mark-read', 'pigeon history group:Sales --json'],
  group: ['pigeon group create Sales Bob Carol', 'pigeon group list', 'pigeon send Sales "meeting moved to 3"'],
  'group create': ['pigeon group create Sales Bob Carol', 'pigeon group create Lunch --json'],
  'group add': ['pigeon group add Sales Dave'],
  'group remove': ['pigeon group remove Sales Dave          # the owner only'],
  'group leave': ['pigeon group leave Sales'],
  'group list': ['pigeon group list', 'pigeon group list --json'],
  ui: ['pigeon ui            # then open the printed http://127.0.0.1:PORT/?token=... in a browser', 'pigeon ui --json'],
  status: ['pigeon status away "back at 2"', 'pigeon status busy', 'pigeon status online', 'pigeon status away lunch --json'],
  chat: [
    'pigeon chat Bob                 # type lines; /help lists the commands',
    'pigeon chat Sales               # a group',
    'echo "hi" | pigeon chat Bob     # send lines from a script',
    'pigeon chat Bob --json          # events and sent messages as JSON lines',
  ],
  whoami: ['pigeon whoami', 'pigeon whoami --json'],
  trust: ['pigeon trust Bob                # after comparing fingerprints with Bob', 'pigeon trust 3f2a9c01 --json'],
  'send-file': [
    'pigeon send-file Bob report.pdf                 # offer; continues in the background',
    'pigeon send-file Bob photos/ notes.txt --wait   # progress bar until Bob has everything',
    'pigeon send-file Bob big.iso --json             # the offer as JSON',
    'pigeon send-file Bob,Carol agenda.pdf --wait    # one offer each (also --workgroup, --everyone)',
    'pigeon send-file Phone photo.jpg --pin 123456   # a LocalSend device that asks for a PIN',
  ],
  'send-image': ['pigeon send-image Bob screenshot.png          # shown inline on Bob\'s side', 'pigeon send-image Bob photo.jpg --wait --json'],
  transfers: ['pigeon transfers', 'pigeon transfers 3f2a9c01          # its files and their indexes', 'pigeon transfers --json'],
  accept: ['pigeon accept 3f2a9c01', 'pigeon accept 3f2a9c01 --files 0,2,5     # only these (indexes from pigeon transfers ID)'],
  decline: ['pigeon decline 3f2a9c01'],
  cancel: ['pigeon cancel 3f2a9c01'],
  relay: [
    'pigeon relay --help                               # every option of the relay server',
    'pigeon relay --data /var/lib/pigeon-relay          # run a relay (see docs/relay-admin.md)',
    'pigeon relay --invite-token-file /etc/pigeon/token --json',
  ],
};

/** The Examples section for a command path, or null when none is written. */
export function examplesFor(path: string): string | null {
  const lines = EXAMPLES[path];
  return lines ? `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}` : null;
}
