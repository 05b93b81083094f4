/**
 * How a message sent to several people finds out who got it: the app
 * provides a loader (the engine's `multiSend`), the "delivered to N of M"
 * mark in a message list uses it on click. A context rather than props so
 * that the message lists need not carry it through every conversation.
 */
import { createContext, useContext } from 'react';
import type { MultiSendInfo } from '../../shared/api/control-api.js';

export type RecipientsLoader = (id: string) => Promise<MultiSendInfo>;

export const RecipientsContext = createContext<RecipientsLoader | null>(null);

export function useRecipientsLoader(): RecipientsLoader | null {
  return useContext(RecipientsContext);
}
