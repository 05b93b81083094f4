/**
 * When a new message or offer notifies (pure; tested in notify-policy.test.ts):
 * never for what the user is looking at (the open conversation of a focused
 * window), never for a muted conversation, except that a message naming this
 * user with @ in a group (or @all) always notifies, muted or not (DingTalk and
 * WeChat Work do the same).
 */

/** Words that address everyone in a group. */
const EVERYONE = ['@all', '@everyone', '@所有人', '@全体成员'];

/** Does the text mention `name` with @ (case-insensitive, not inside a longer word), or everyone? */
export function mentions(text: string, name: string): boolean {
  const lower = text.toLowerCase();
  if (EVERYONE.some((w) => lower.includes(w))) return true;
  const at = `@${name.toLowerCase()}`;
  if (name.trim() === '') return false;
  for (let i = lower.indexOf(at); i >= 0; i = lower.indexOf(at, i + 1)) {
    const after = lower.charAt(i + at.length);
    // "@Ann" in "@Anna" is not Ann; CJK names are followed by anything but a letter or digit.
    if (after === '' || !/[\p{L}\p{N}_]/u.test(after) || /\p{Script=Han}/u.test(after)) return true;
  }
  return false;
}

export interface NotifyContext {
  /** The conversation the window shows, if any. */
  active: string | null;
  /** Does the window have the focus? */
  focused: boolean;
  muted: ReadonlySet<string>;
  /** This user's display name (for @mentions). */
  selfName: string;
}

/** Should something arriving in `conversation` (with `text`, and in a group `isGroup`) notify? */
export function shouldNotify(conversation: string, text: string, isGroup: boolean, ctx: NotifyContext): boolean {
  if (conversation === ctx.active && ctx.focused) return false;
  if (!ctx.muted.has(conversation)) return true;
  return isGroup && mentions(text, ctx.selfName);
}
