/**
 * Conversation keys: a colleague's device id, or `group:<id>` for a group
 * (the engine keys group messages, history and unread counts that way).
 */
export const GROUP_PREFIX = 'group:';

export const groupKey = (groupId: string): string => `${GROUP_PREFIX}${groupId}`;

/** The group id of a conversation key, or null for a colleague. */
export const groupIdOf = (key: string): string | null => (key.startsWith(GROUP_PREFIX) ? key.slice(GROUP_PREFIX.length) : null);
