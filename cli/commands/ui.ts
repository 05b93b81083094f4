/**
 * `pigeon ui`: prints the link of the running peer's web UI again (the port
 * and token are kept in the profile, cli/web-ui/web-ui-profile.ts). It asks
 * the peer through the control socket that it runs, then checks that the
 * link answers, so what it prints is a link that works now.
 */
import { Command, type Option } from 'commander';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { withClient } from '../control-client.js';
import { resolveHome } from '../home.js';
import { loadWebUiProfile, webUiUrl } from '../web-ui/web-ui-profile.js';

/** How long the check of the link may take: a local HTTP request answers in milliseconds. */
const PROBE_TIMEOUT_MS = 3_000;

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    return res.ok;
  } catch {
    return false;
  }
}

export function uiCommand(homeOption: () => Option): Command {
  return new Command('ui')
    .description('print the link of the web UI of the running peer (started with pigeon peer --ui)')
    .addOption(homeOption())
    .option('--json', 'print {"url": ...}', false)
    .action(async (o: { home?: string; json: boolean }) => {
      const home = resolveHome(o.home);
      // Through the control socket: fails with NOT_RUNNING and its advice when no peer runs for this profile.
      await withClient(home, (c) => c.request('whoami', {}));
      const profile = loadWebUiProfile(home);
      const url = profile ? webUiUrl(profile) : null;
      if (!url || !(await answers(url))) {
        throw new PigeonError(ErrorCodes.NOT_RUNNING, `the peer of ${home} runs without the web UI: stop it and start it with: pigeon peer --ui${o.home ? ` --home ${home}` : ''}`);
      }
      process.stdout.write((o.json ? JSON.stringify({ url }) : url) + '\n');
    });
}
