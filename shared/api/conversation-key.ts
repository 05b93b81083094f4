/**
 * Conversation keys, as the engine stores messages and the UIs name
 * conversations: a colleague's device id, or `group:<group id>` for a group
 * (device ids never contain ':'). `group:<name>` on the command line names a
 * group only.
 */
export const GROUP_PREFIX = 'group:';

/** The conversation key of a group. */
export function groupConversation(gid: string): string {
  return `${GROUP_PREFIX}${gid}`;
}

/** The group id of a conversation key, or null for a conversation with one colleague. */
export function groupOf(conversation: string): string | null {
  return conversation.startsWith(GROUP_PREFIX) ? conversation.slice(GROUP_PREFIX.length) : null;
}
