/**
 * Conversation keys: a colleague's device id, or `group:<id>` for a group
 * (the engine keys group messages, history and unread counts that way).
 */
export { GROUP_PREFIX, groupConversation as groupKey, groupOf as groupIdOf } from '../../shared/api/conversation-key.js';
