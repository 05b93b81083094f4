/**
 * Language of the UI: English or Simplified Chinese, following the system
 * (navigator.languages) until the user picks one, which is remembered in
 * localStorage. `useT()` gives the translate function to components.
 */
import { createContext, useContext, useMemo, useState, type ReactNode } from 'react';
import { en, type Dictionary, type MessageKey } from './en.js';
import { pickPlural } from './plural.js';
import { zhCN } from './zh-cn.js';

export type Lang = 'en' | 'zh-CN';
export const LANGS: readonly Lang[] = ['en', 'zh-CN'];
/** localStorage key of the chosen language. */
const STORAGE_KEY = 'pigeon.lang';

export type Translate = (key: MessageKey, vars?: Record<string, string | number>) => string;

const DICTS: Record<Lang, Dictionary> = { en, 'zh-CN': zhCN };

/** The first system language we have, else English (zh-TW/zh-HK readers read Simplified better than English, mostly). */
export function systemLang(languages: readonly string[]): Lang {
  for (const l of languages) {
    if (l.toLowerCase().startsWith('zh')) return 'zh-CN';
    if (l.toLowerCase().startsWith('en')) return 'en';
  }
  return 'en';
}

export function translator(lang: Lang): Translate {
  const dict = DICTS[lang];
  return (key, vars) => {
    const entry = dict[key] ?? en[key];
    let text = typeof entry === 'string' ? entry : pickPlural(entry, Number(vars?.count ?? 0), lang);
    if (vars) for (const [k, v] of Object.entries(vars)) text = text.split(`{${k}}`).join(String(v));
    return text;
  };
}

interface I18n {
  lang: Lang;
  t: Translate;
  setLang(lang: Lang): void;
}

const I18nContext = createContext<I18n>({ lang: 'en', t: translator('en'), setLang: () => {} });

function initialLang(): Lang {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved === 'en' || saved === 'zh-CN') return saved;
  } catch {
    // storage may be unavailable (private mode): follow the system
  }
  return systemLang(navigator.languages ?? [navigator.language]);
}

export function I18nProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(initialLang);
  const value = useMemo<I18n>(
    () => ({
      lang,
      t: translator(lang),
      setLang(next) {
        setLangState(next);
        document.documentElement.lang = next;
        try {
          localStorage.setItem(STORAGE_KEY, next);
        } catch {
          // not remembered; the choice still holds for this page
        }
      },
    }),
    [lang],
  );
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  return useContext(I18nContext);
}

export function useT(): Translate {
  return useContext(I18nContext).t;
}
