/**
 * What a line typed in `pigeon chat` means: a message, or one of the slash
 * commands. A line that starts with "/" is never sent as a message by
 * mistake: an unknown command is refused with the list, and "//text" sends
 * "/text" (the escape IRC clients use).
 */

export type ChatLine =
  | { kind: 'message'; text: string }
  | { kind: 'empty' }
  | { kind: 'help' }
  | { kind: 'quit' }
  | { kind: 'file'; paths: string[] }
  | { kind: 'error'; message: string };

/** Shown by /help, and after a mistyped command. */
export const CHAT_HELP = [
  'Type a message and press Enter to send it. Commands:',
  '  /help         this list',
  '  /file PATH    offer a file or folder (several paths: separated by spaces; quote a path with spaces)',
  '  /quit         leave the chat (Ctrl-D too)',
  '  //text        send a message that starts with "/"',
].join('\n');

/** Splits the argument of /file into paths: words, or "quoted paths with spaces". */
function splitPaths(rest: string): string[] {
  const paths: string[] = [];
  for (const m of rest.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) {
    const p = m[1] ?? m[2] ?? m[3] ?? '';
    if (p) paths.push(p);
  }
  return paths;
}

export function parseChatLine(line: string): ChatLine {
  const text = line.trim();
  if (text === '') return { kind: 'empty' };
  if (text.startsWith('//')) return { kind: 'message', text: line.replace(/^(\s*)\//, '$1') };
  if (!text.startsWith('/')) return { kind: 'message', text: line };
  const [, name = '', rest = ''] = /^\/(\S*)\s*(.*)$/.exec(text) ?? [];
  switch (name.toLowerCase()) {
    case 'help':
    case '?':
      return { kind: 'help' };
    case 'quit':
    case 'exit':
      return { kind: 'quit' };
    case 'file': {
      const paths = splitPaths(rest);
      return paths.length > 0 ? { kind: 'file', paths } : { kind: 'error', message: 'usage: /file PATH (a file or folder to offer)' };
    }
    default:
      return { kind: 'error', message: `unknown command /${name}: not sent. /help lists the commands; //text sends a message starting with "/"` };
  }
}
