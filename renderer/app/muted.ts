/**
 * Muted conversations (colleagues' ids and `group:<id>` keys), kept in the
 * page's localStorage: a choice of this browser or desktop window, like the
 * theme. A muted conversation counts no unread in the title and notifies
 * only when a group message @mentions the user (logic/notify-policy.ts).
 */
const KEY = 'pigeon.muted';
/** localStorage key: the user answered the question about notifications (allowed or not now). */
const ASKED_KEY = 'pigeon.notifications.asked';

export function loadMuted(): Set<string> {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? '[]') as unknown;
    return new Set(Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  } catch {
    return new Set();
  }
}

export function saveMuted(muted: ReadonlySet<string>): void {
  try {
    localStorage.setItem(KEY, JSON.stringify([...muted]));
  } catch {
    // Private windows may refuse storage: the choice then lasts for this page only.
  }
}

export function notificationsAsked(): boolean {
  try {
    return localStorage.getItem(ASKED_KEY) === '1';
  } catch {
    return false;
  }
}

export function setNotificationsAsked(): void {
  try {
    localStorage.setItem(ASKED_KEY, '1');
  } catch {
    // As above.
  }
}
