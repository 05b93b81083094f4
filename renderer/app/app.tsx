/**
 * The screen: sidebar (me, colleagues by workgroup, groups), the open
 * conversation or the history search, the transfers; dialogs for offers,
 * changed keys and settings. A container: data and actions come from
 * usePigeon, the pieces are props-only components.
 *
 * Three panes side by side from 1100 px; below, two (the transfers take the
 * conversation's place when opened); below 700 px one at a time, contacts →
 * conversation → transfers, with back buttons. Which pane a narrow window
 * shows is `view`; styles.css does the rest with media queries.
 */
import { useEffect, useMemo, useState } from 'react';
import { isFinishedTransfer } from '../../shared/api/control-api.js';
import type { MessageInfo, SettingsInfo, TransferEntryInfo } from '../../shared/api/control-api.js';
import { ContactList } from '../components/contact-list.js';
import { Conversation } from '../components/conversation.js';
import { ErrorBanner } from '../components/error-banner.js';
import { GroupConversation } from '../components/group-conversation.js';
import { GroupList } from '../components/group-list.js';
import { NewGroupDialog } from '../components/new-group-dialog.js';
import { KeyChangedDialog } from '../components/key-changed-dialog.js';
import { OfferDialog } from '../components/offer-dialog.js';
import { SearchPanel } from '../components/search-panel.js';
import { SelfHeader } from '../components/self-header.js';
import { SettingsDialog } from '../components/settings-dialog.js';
import { TransfersPanel } from '../components/transfers-panel.js';
import { PaneBar } from '../components/pane-bar.js';
import { Splash } from '../components/splash.js';
import { useT } from '../i18n/i18n.js';
import { fold, groupContacts } from '../logic/contacts.js';
import { groupIdOf } from '../logic/conversations.js';
import type { Host } from '../transport/host.js';
import { usePigeon } from './use-pigeon.js';
import { useConvoTools } from './use-convo-tools.js';
import { ConvoToolsBar } from '../components/convo-tools.js';
import { MultiSendDialog } from '../components/multi-send-dialog.js';
import { ScheduledDialog } from '../components/scheduled-dialog.js';

/** Pause after typing before the history is searched. */
const SEARCH_DEBOUNCE_MS = 250;

/** The pane a narrow window shows (wide windows show several at once). */
export type View = 'contacts' | 'chat' | 'transfers';

export function App({ host }: { host: Host }) {
  const t = useT();
  const { state, activeId, errors, offerQueue, staging, now, blocked, peerName, actions } = usePigeon(host);
  const tools = useConvoTools(host, state.connection === 'open', actions.fail);
  const [query, setQuery] = useState('');
  const [searching, setSearching] = useState(false);
  const [searchQuery, setSearchQuery] = useState('');
  const [searchResults, setSearchResults] = useState<MessageInfo[] | null>(null);
  const [settings, setSettings] = useState<SettingsInfo | null>(null);
  const [creatingGroup, setCreatingGroup] = useState(false);
  const [, setNotificationAnswer] = useState(0);
  const [view, setView] = useState<View>('contacts');
  const [offerEntries, setOfferEntries] = useState<{ id: string; entries: TransferEntryInfo[] } | null>(null);

  const peers = useMemo(() => Object.values(state.peers), [state.peers]);
  const contactGroups = useMemo(() => groupContacts(peers, query), [peers, query]);
  const activePeer = activeId ? state.peers[activeId] : undefined;
  const activeGroupId = activeId ? groupIdOf(activeId) : null;
  const activeGroup = activeGroupId ? state.groups[activeGroupId] : undefined;
  const groups = useMemo(
    () => Object.values(state.groups).filter((g) => fold(g.name).includes(fold(query.trim()))).sort((a, b) => a.name.localeCompare(b.name)),
    [state.groups, query],
  );
  const transfers = useMemo(() => Object.values(state.transfers), [state.transfers]);
  const activeTransfers = transfers.filter((tr) => !isFinishedTransfer(tr.state)).length;
  const reachable = state.connection === 'open';
  const keyChange = state.keyChanges.find((k) => !blocked.has(k.peerId));
  const offerId = offerQueue.find((id) => state.transfers[id]?.state === 'offered');

  useEffect(() => {
    if (!offerId) {
      setOfferEntries(null);
      return;
    }
    let live = true;
    actions.entries(offerId).then((entries) => live && setOfferEntries({ id: offerId, entries }), actions.fail);
    return () => {
      live = false;
    };
  }, [offerId]);

  // Opening a conversation (a click, a notification) shows it in narrow windows.
  useEffect(() => {
    if (activeId) setView('chat');
  }, [activeId]);

  useEffect(() => {
    if (!searching || searchQuery.trim() === '') {
      setSearchResults(null);
      return;
    }
    const timer = setTimeout(() => actions.search(searchQuery.trim()).then(setSearchResults, actions.fail), SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [searching, searchQuery]);

  if (!state.self) {
    return <Splash lost={state.connection === 'lost'} />;
  }
  const offer = offerId ? state.transfers[offerId] : undefined;
  const pendingKey = activePeer ? state.keyChanges.find((k) => k.peerId === activePeer.id) : undefined;

  return (
    <div className="app" data-view={view}>
      <nav className="sidebar">
        <SelfHeader
          self={state.self}
          onStatus={(s, away) => void actions.setStatus(s, away)}
          onSearch={() => {
            setSearching(true);
            setView('chat');
          }}
          onTransfers={() => setView('transfers')}
          activeTransfers={activeTransfers}
          reachable={reachable}
          onSettings={() => void actions.settings().then(setSettings, actions.fail)}
        />
        <ContactList
          groups={contactGroups}
          anyone={peers.length > 0}
          query={query}
          activeId={activeId}
          unread={state.unread}
          reachable={reachable}
          onQuery={setQuery}
          onSelect={(id) => {
            setSearching(false);
            actions.select(id);
            setView('chat');
          }}
          onDropFiles={(id, drop) => void actions.dropFiles(id, drop)}
        >
          <ConvoToolsBar scheduledCount={tools.scheduledCount} onScheduled={() => tools.openScheduled(true)} {...(peers.length > 0 ? { onMulti: () => tools.openMulti(true) } : {})} />
          <GroupList
            groups={groups}
            activeKey={activeId}
            unread={state.unread}
            onSelect={(key) => {
              setSearching(false);
              actions.select(key);
              setView('chat');
            }}
            {...(peers.length > 0 ? { onCreate: () => setCreatingGroup(true) } : {})}
          />
        </ContactList>
      </nav>
      <main className="main">
        <PaneBar activeTransfers={activeTransfers} onBack={() => setView('contacts')} onTransfers={() => setView('transfers')} />
        {state.connection === 'lost' && (
          <div className="notice warning-notice" role="status">
            {t('app.connectionLost')} {t('app.connectionHelp')}
          </div>
        )}
        <ErrorBanner messages={errors} onDismiss={actions.dismissErrors} />
        {pendingKey && blocked.has(pendingKey.peerId) && (
          <div className="notice warning-notice">
            {t('key.title', { name: activePeer!.name })}{' '}
            <button type="button" className="link-button" onClick={() => actions.review(pendingKey.peerId)}>
              {t('key.review')}
            </button>
          </div>
        )}
        {searching ? (
          <SearchPanel
            query={searchQuery}
            results={searchResults}
            now={now}
            peerName={peerName}
            onQuery={setSearchQuery}
            onOpen={(id) => {
              setSearching(false);
              actions.select(id);
            }}
            onClose={() => setSearching(false)}
          />
        ) : activeGroup ? (
          <GroupConversation
            group={activeGroup}
            messages={state.conversations[activeId!] ?? []}
            now={now}
            memberName={(id, fallback) => (id === state.self?.id ? t('self.you') : (state.peers[id]?.name ?? fallback ?? id.slice(0, 8)))}
            onSend={(text, at) => void actions.send(activeId!, text, at)}
            onLeave={() => void actions.leaveGroup(activeGroup.id)}
          />
        ) : activePeer ? (
          <Conversation
            peer={activePeer}
            messages={state.conversations[activePeer.id] ?? []}
            now={now}
            reachable={reachable}
            onSend={(text, at) => void actions.send(activePeer.id, text, at)}
            onDropFiles={(drop) => void actions.dropFiles(activePeer.id, drop)}
          />
        ) : (
          <div className="empty-main">
            <p>{t('chat.pick')}</p>
          </div>
        )}
      </main>
      <TransfersPanel
        transfers={transfers}
        staging={staging}
        peerName={peerName}
        peerOnline={(id) => state.peers[id]?.online ?? true}
        reachable={reachable}
        onBack={() => setView(activeId || searching ? 'chat' : 'contacts')}
        onCancel={actions.cancel}
        onOpenOffer={actions.openOffer}
        {...(host.showInFolder ? { onShowInFolder: (id: string) => host.showInFolder?.(id) } : {})}
        onClearFinished={actions.clearFinished}
      />
      {keyChange ? (
        <KeyChangedDialog change={keyChange} onTrust={() => void actions.trust(keyChange.peerId)} onBlock={() => actions.block(keyChange.peerId)} />
      ) : offer && offerEntries?.id === offer.id ? (
        <OfferDialog
          transfer={offer}
          entries={offerEntries.entries}
          peerName={peerName(offer.peer)}
          onAccept={(files) => void actions.accept(offer.id, files)}
          onDecline={() => actions.decline(offer.id)}
          onLater={() => actions.later(offer.id)}
        />
      ) : tools.multiOpen ? (
        <MultiSendDialog peers={peers} onSend={tools.sendMulti} onFiles={tools.sendFilesMulti} onCancel={() => tools.openMulti(false)} />
      ) : tools.scheduledOpen ? (
        <ScheduledDialog messages={tools.scheduled} now={now} peerName={peerName} onCancelMessage={tools.cancelScheduled} onEdit={tools.editScheduled} onClose={() => tools.openScheduled(false)} />
      ) : creatingGroup ? (
        <NewGroupDialog
          peers={peers}
          onCancel={() => setCreatingGroup(false)}
          onCreate={(name, members) => void actions.createGroup(name, members).then((ok) => ok && setCreatingGroup(false))}
        />
      ) : settings ? (
        <SettingsDialog
          self={state.self}
          settings={settings}
          onSave={actions.saveProfile}
          onClose={() => setSettings(null)}
          {...(host.notificationPermission && host.requestNotifications
            ? { notifications: { state: host.notificationPermission(), request: () => void host.requestNotifications?.().then(() => setNotificationAnswer((n) => n + 1)) } }
            : {})}
        />
      ) : null}
    </div>
  );
}
