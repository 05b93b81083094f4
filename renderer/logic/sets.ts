/** Set helpers for the checkbox lists of the dialogs (offered files, group members). */

/** A copy of `set` with `item` removed if it was there, else added. */
export function toggled<T>(set: ReadonlySet<T>, item: T): Set<T> {
  const next = new Set(set);
  if (!next.delete(item)) next.add(item);
  return next;
}
