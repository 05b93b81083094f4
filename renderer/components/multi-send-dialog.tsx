/**
 * Writing to several people at once (spec §7.12): colleagues picked one by
 * one, a whole workgroup, or everyone online; each gets a copy of their own.
 * Files dropped on the dialog (or chosen) go to the same people, one offer
 * each. Props-only: the container sends and closes.
 */
import { useMemo, useRef, useState } from 'react';
import type { DropBundle } from '../transport/host.js';
import { useFileDrop } from './use-file-drop.js';
import type { PeerInfo, Recipients } from '../../shared/api/control-api.js';
import { useT } from '../i18n/i18n.js';
import { compareContacts } from '../logic/contacts.js';
import { toggled } from '../logic/sets.js';
import { Dialog } from './dialog.js';

type Mode = 'pick' | 'workgroup' | 'everyone';

export interface MultiSendDialogProps {
  peers: readonly PeerInfo[];
  onSend(to: Recipients, text: string): void;
  /** Offers files to the same recipients (absent: text only). */
  onFiles?: (to: Recipients, drop: DropBundle) => void;
  onCancel(): void;
  /** Initial choice (tests, and a later "message this workgroup" entry point). */
  initial?: { mode: Mode; workgroup?: string; chosen?: readonly string[] };
}

/** Who the dialog's choice means now, as the engine will resolve it (a namesake device is nobody's colleague). */
export function chosenPeers(peers: readonly PeerInfo[], mode: Mode, workgroup: string, chosen: ReadonlySet<string>): PeerInfo[] {
  const colleagues = peers.filter((p) => !p.namesakeOf && !p.successorOf);
  if (mode === 'everyone') return colleagues.filter((p) => p.online);
  if (mode === 'workgroup') return colleagues.filter((p) => workgroup !== '' && p.group.trim().toLowerCase() === workgroup.trim().toLowerCase());
  return colleagues.filter((p) => chosen.has(p.id));
}

export function MultiSendDialog({ peers, onSend, onFiles, onCancel, initial }: MultiSendDialogProps) {
  const t = useT();
  const workgroups = useMemo(() => [...new Set(peers.map((p) => p.group.trim()).filter(Boolean))].sort(), [peers]);
  const [mode, setMode] = useState<Mode>(initial?.mode ?? 'pick');
  const [workgroup, setWorkgroup] = useState(initial?.workgroup ?? workgroups[0] ?? '');
  const [chosen, setChosen] = useState<ReadonlySet<string>>(new Set(initial?.chosen ?? []));
  const [text, setText] = useState('');
  const targets = chosenPeers(peers, mode, workgroup, chosen);
  const to: Recipients = mode === 'everyone' ? { everyone: true } : mode === 'workgroup' ? { workgroup } : { peers: targets.map((p) => p.id) };
  const files = onFiles && targets.length > 0 ? (drop: DropBundle) => onFiles(to, drop) : null;
  const { over, handlers } = useFileDrop(files);
  const picker = useRef<HTMLInputElement>(null);
  const modes: Array<[Mode, string]> = [
    ['pick', t('multi.pick')],
    ['workgroup', t('multi.workgroup')],
    ['everyone', t('multi.everyone')],
  ];
  return (
    <Dialog
      title={t('multi.title')}
      className="multi-send"
      onEscape={onCancel}
      actions={
        <>
          <button type="button" onClick={onCancel}>
            {t('settings.close')}
          </button>
          <button type="button" className="primary" disabled={text.trim() === '' || targets.length === 0} onClick={() => onSend(to, text)}>
            {t('multi.send', { count: targets.length })}
          </button>
        </>
      }
    >
      <div className={`form${over ? ' drop-over' : ''}`} {...handlers}>
        <div className="multi-modes" role="radiogroup">
          {modes.map(([m, label]) => (
            <label key={m}>
              <input type="radio" name="multi-mode" value={m} checked={mode === m} onChange={() => setMode(m)} /> {label}
            </label>
          ))}
        </div>
        {mode === 'pick' && (
          <ul className="offer-files">
            {[...peers].filter((p) => !p.namesakeOf && !p.successorOf).sort(compareContacts).map((p) => (
              <li key={p.id}>
                <label>
                  <input type="checkbox" checked={chosen.has(p.id)} onChange={() => setChosen((prev) => toggled(prev, p.id))} />
                  <span className="file-name">{p.name}</span>
                  <span className="muted size">{p.group}</span>
                </label>
              </li>
            ))}
          </ul>
        )}
        {mode === 'workgroup' && (
          <label>
            {t('multi.workgroup')}
            <select value={workgroup} onChange={(e) => setWorkgroup(e.target.value)}>
              {workgroups.map((g) => (
                <option key={g} value={g}>
                  {g}
                </option>
              ))}
            </select>
            <span className="muted">{t('multi.workgroupNote', { count: targets.length })}</span>
          </label>
        )}
        {mode === 'everyone' && <span className="muted">{t('multi.everyoneNote', { count: targets.length })}</span>}
        <textarea value={text} rows={3} aria-label={t('chat.placeholder')} placeholder={t('chat.placeholder')} onChange={(e) => setText(e.target.value)} />
        {files && (
          <span className="muted multi-files">
            {t('multi.filesHint', { count: targets.length })}{' '}
            <button type="button" className="link-button" onClick={() => picker.current?.click()}>
              {t('chat.sendFiles')}
            </button>
            <input
              ref={picker}
              type="file"
              multiple
              hidden
              onChange={(e) => {
                const chosen = [...(e.target.files ?? [])];
                e.target.value = '';
                if (chosen.length > 0) files({ files: chosen, entries: chosen.map(() => null) });
              }}
            />
          </span>
        )}
      </div>
    </Dialog>
  );
}
