/**
 * Settings: name and workgroup (saved at once in the profile), language,
 * appearance (light, dark or following the system), and
 * what is set when Pigeon starts (download folder, auto-accept, relay) shown
 * read-only, with my own key fingerprint to read to colleagues.
 */
import { useState } from 'react';
import type { SelfInfo, SettingsInfo } from '../../shared/api/control-api.js';
import { LANGS, useI18n, type Lang } from '../i18n/i18n.js';
import { Dialog } from './dialog.js';
import { loadTheme, saveTheme, THEME_CHOICES, type ThemeChoice } from '../app/theme.js';

export interface SettingsDialogProps {
  self: SelfInfo;
  settings: SettingsInfo;
  /** Resolves true once saved. */
  onSave(name: string, group: string): Promise<boolean>;
  onClose(): void;
  /** Web UI: the browser's notification permission, and how to ask for it. */
  notifications?: { state: 'granted' | 'default' | 'denied'; request(): void };
}

export function SettingsDialog({ self, settings, onSave, onClose, notifications }: SettingsDialogProps) {
  const { t, lang, setLang } = useI18n();
  const [name, setName] = useState(settings.name);
  const [group, setGroup] = useState(settings.group);
  /** What the profile holds now: the settings as opened, then what was saved. */
  const [stored, setStored] = useState({ name: settings.name, group: settings.group });
  const [saved, setSaved] = useState(false);
  const [theme, setTheme] = useState<ThemeChoice>(loadTheme);
  const dirty = name !== stored.name || group !== stored.group;
  return (
    <Dialog
      title={t('settings.title')}
      className="settings"
      onEscape={onClose}
      actions={
        <>
          {saved && !dirty && <span className="muted">{t('settings.saved')}</span>}
          <button type="button" onClick={onClose}>
            {t('settings.close')}
          </button>
          <button
            type="button"
            className="primary"
            disabled={!dirty || name.trim() === ''}
            onClick={() => {
              const next = { name: name.trim(), group: group.trim() };
              void onSave(next.name, next.group).then((ok) => {
                if (!ok) return;
                setName(next.name);
                setGroup(next.group);
                setStored(next);
                setSaved(true);
              });
            }}
          >
            {t('settings.save')}
          </button>
        </>
      }
    >
      <div className="form">
        <label>
          {t('settings.name')}
          <input value={name} maxLength={64} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          {t('settings.group')}
          <input value={group} maxLength={64} onChange={(e) => setGroup(e.target.value)} />
        </label>
        <label>
          {t('settings.language')}
          <select value={lang} onChange={(e) => setLang(e.target.value as Lang)}>
            {LANGS.map((l) => (
              <option key={l} value={l}>
                {t(`lang.${l}`)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('settings.theme')}
          <select
            value={theme}
            onChange={(e) => {
              const next = e.target.value as ThemeChoice;
              setTheme(next);
              saveTheme(next);
            }}
          >
            {THEME_CHOICES.map((c) => (
              <option key={c} value={c}>
                {t(`theme.${c}`)}
              </option>
            ))}
          </select>
        </label>
        {notifications && (
          <div className="field">
            <span>{t('settings.notifications')}</span>
            {notifications.state === 'default' ? (
              <button type="button" className="small align-start" onClick={notifications.request}>
                {t('settings.notificationsAllow')}
              </button>
            ) : (
              <span className="muted">{t(notifications.state === 'granted' ? 'settings.notificationsOn' : 'settings.notificationsBlocked')}</span>
            )}
          </div>
        )}
        <div className="field">
          <span>{t('settings.fingerprint')}</span>
          <code className="fingerprint-big">{self.fingerprint}</code>
          <span className="muted">{t('settings.fingerprintHelp')}</span>
        </div>
        <div className="field readonly">
          <span>{t('settings.downloads')}</span>
          <code>{settings.downloads}</code>
          <span>{t('settings.acceptFrom')}</span>
          {settings.acceptFrom.length ? <code>{settings.acceptFrom.join(', ')}</code> : <span className="value">{t('settings.acceptNobody')}</span>}
          <span>{t('settings.relay')}</span>
          {settings.relay ? <code>{settings.relay.url}</code> : <span className="value">{t('settings.relayNone')}</span>}
          {settings.relay && (
            <>
              <span>{t('settings.relayFingerprint')}</span>
              <code>{settings.relay.fingerprint || '—'}</code>
            </>
          )}
          <span className="muted">{t('settings.fromCommandLine')}</span>
        </div>
      </div>
    </Dialog>
  );
}
