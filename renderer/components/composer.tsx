/**
 * Writing a message: Enter sends, Shift+Enter starts a new line; "Send later"
 * picks a time; paste works as in any text box, and a pasted or dropped image
 * (a screenshot from the clipboard) is handed over to be sent as a picture.
 */
import { useState, type ClipboardEvent, type DragEvent, type KeyboardEvent } from 'react';
import { useT } from '../i18n/i18n.js';

export interface ComposerProps {
  onSend(text: string, at?: number): void;
  /** Opens the system file picker (desktop) or is absent. */
  onPickFiles?: () => void;
  /** Images pasted or dropped into the text box: sent as pictures (absent: paste only text). */
  onPictures?: (files: File[]) => void;
}

/** The image files of a paste or drop (text and other files are left to the default handling). */
function imagesOf(dt: DataTransfer | null): File[] {
  return dt ? [...dt.files].filter((f) => f.type.startsWith('image/')) : [];
}

/** A datetime-local value 10 minutes from now, the default of "Send later". */
function inTenMinutes(now: number): string {
  const d = new Date(now + 10 * 60_000);
  d.setSeconds(0, 0);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

export function Composer({ onSend, onPickFiles, onPictures }: ComposerProps) {
  const t = useT();
  const [text, setText] = useState('');
  const [later, setLater] = useState<string | null>(null);

  const send = (): void => {
    if (text.trim() === '') return;
    const at = later ? new Date(later).getTime() : undefined;
    onSend(text, at !== undefined && Number.isFinite(at) ? at : undefined);
    setText('');
    setLater(null);
  };
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>): void => {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      send();
    }
  };
  const onPaste = (e: ClipboardEvent<HTMLTextAreaElement>): void => {
    const images = imagesOf(e.clipboardData);
    if (!onPictures || images.length === 0) return;
    e.preventDefault();
    onPictures(images);
  };
  const onDrop = (e: DragEvent<HTMLTextAreaElement>): void => {
    const images = imagesOf(e.dataTransfer);
    // Only images dropped on the text box are pictures; other drops are files (the conversation takes them).
    if (!onPictures || images.length === 0 || images.length !== e.dataTransfer.files.length) return;
    e.preventDefault();
    e.stopPropagation();
    onPictures(images);
  };
  return (
    <div className="composer">
      <textarea value={text} rows={3} placeholder={t('chat.placeholder')} aria-label={t('chat.placeholder')} onChange={(e) => setText(e.target.value)} onKeyDown={onKeyDown} onPaste={onPaste} onDrop={onDrop} />
      <div className="composer-actions">
        {later === null ? (
          <button type="button" className="link-button" onClick={() => setLater(inTenMinutes(Date.now()))}>
            {t('chat.sendLater')}
          </button>
        ) : (
          <label className="send-at">
            {t('chat.sendAt')} <input type="datetime-local" value={later} onChange={(e) => setLater(e.target.value)} />
            <button type="button" className="link-button" onClick={() => setLater(null)}>
              {t('chat.cancelLater')}
            </button>
          </label>
        )}
        {onPickFiles && (
          <button type="button" className="link-button" onClick={onPickFiles}>
            {t('chat.sendFiles')}
          </button>
        )}
        <button type="button" className="primary" onClick={send} disabled={text.trim() === ''}>
          {later === null ? t('chat.send') : t('chat.sendLater')}
        </button>
      </div>
    </div>
  );
}
