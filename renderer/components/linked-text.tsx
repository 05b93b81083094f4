/**
 * Message text with its web addresses made into links. A link opens outside
 * Pigeon: a new browser tab in the web UI (target=_blank, rel=noopener
 * noreferrer), the system browser in the desktop app (its main process turns
 * window.open into shell.openExternal and denies navigation: electron/main/window.ts).
 * Only http(s) addresses are linked; the rest stays text.
 */
import { Fragment } from 'react';

/** An http(s) address up to the next space or angle bracket or quote. */
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;
/** Punctuation that ends a sentence rather than the address ("see https://x.org."). */
const TRAILING = /[.,;:!?)\]}'"’”。，；：！？）]+$/;

export type TextPart = { text: string } | { url: string };

/** Splits a text into plain parts and addresses (pure, tested in linked-text.test.tsx). */
export function splitLinks(text: string): TextPart[] {
  const parts: TextPart[] = [];
  let last = 0;
  for (const m of text.matchAll(URL_PATTERN)) {
    let url = m[0];
    const trail = TRAILING.exec(url);
    // Keep a closing parenthesis that closes one opened inside the address (Wikipedia links).
    if (trail) {
      let cut = trail[0];
      const opens = url.split('(').length - 1;
      const closes = url.split(')').length - 1;
      if (cut.startsWith(')') && opens >= closes) cut = cut.slice(1);
      url = url.slice(0, url.length - cut.length);
    }
    if (!/^https?:\/\/[^/?#]+/i.test(url)) continue;
    const start = m.index;
    if (start > last) parts.push({ text: text.slice(last, start) });
    parts.push({ url });
    last = start + url.length;
  }
  if (last < text.length) parts.push({ text: text.slice(last) });
  return parts;
}

export function LinkedText({ text }: { text: string }) {
  return (
    <>
      {splitLinks(text).map((p, i) =>
        'url' in p ? (
          <a key={i} href={p.url} target="_blank" rel="noopener noreferrer">
            {p.url}
          </a>
        ) : (
          <Fragment key={i}>{p.text}</Fragment>
        ),
      )}
    </>
  );
}
