/** Making a group: a name and the colleagues in it (groups are carried by the relay). */
import { useState } from 'react';
import type { PeerInfo } from '../../shared/api/control-api.js';
import { useT } from '../i18n/i18n.js';
import { compareContacts } from '../logic/contacts.js';
import { toggled } from '../logic/sets.js';
import { Dialog } from './dialog.js';

export interface NewGroupDialogProps {
  peers: readonly PeerInfo[];
  onCreate(name: string, members: string[]): void;
  onCancel(): void;
}

export function NewGroupDialog({ peers, onCreate, onCancel }: NewGroupDialogProps) {
  const t = useT();
  const [name, setName] = useState('');
  const [chosen, setChosen] = useState<ReadonlySet<string>>(new Set());
  const toggle = (id: string): void => setChosen((prev) => toggled(prev, id));
  return (
    <Dialog
      title={t('groups.newTitle')}
      className="new-group"
      onEscape={onCancel}
      actions={
        <>
          <button type="button" onClick={onCancel}>
            {t('settings.close')}
          </button>
          <button type="button" className="primary" disabled={name.trim() === '' || chosen.size === 0} onClick={() => onCreate(name.trim(), [...chosen])}>
            {t('groups.create')}
          </button>
        </>
      }
    >
      <div className="form">
        <label>
          {t('groups.name')}
          <input value={name} maxLength={64} onChange={(e) => setName(e.target.value)} />
        </label>
        <span>{t('groups.choose')}</span>
        <ul className="offer-files">
          {[...peers].sort(compareContacts).map((p) => (
            <li key={p.id}>
              <label>
                <input type="checkbox" checked={chosen.has(p.id)} onChange={() => toggle(p.id)} />
                <span className="file-name">{p.name}</span>
                <span className="muted size">{p.group}</span>
              </label>
            </li>
          ))}
        </ul>
        <span className="muted">{t('groups.relayNote')}</span>
      </div>
    </Dialog>
  );
}
