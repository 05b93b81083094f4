/**
 * Light or dark colours: by default the page follows the system
 * (prefers-color-scheme, followed here as it changes); the settings can pin
 * one. The choice is kept in localStorage; the colours it resolves to are
 * applied as data-theme="light" | "dark" on <html>, which styles.css reads
 * (one block of dark colours, not one per way of asking for them).
 */

export type ThemeChoice = 'system' | 'light' | 'dark';
export const THEME_CHOICES: readonly ThemeChoice[] = ['system', 'light', 'dark'];
/** localStorage key of the chosen theme. */
const STORAGE_KEY = 'pigeon.theme';

export function loadTheme(): ThemeChoice {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved === 'light' || saved === 'dark' || saved === 'system') return saved;
  } catch {
    // storage may be unavailable (private mode): follow the system
  }
  return 'system';
}

/** Stops following the system's changes (set while the choice is 'system'). */
let unfollow: (() => void) | null = null;

/** Applies a choice to the page; 'system' follows prefers-color-scheme, also when it changes later. */
export function applyTheme(choice: ThemeChoice, root: HTMLElement = document.documentElement): void {
  unfollow?.();
  unfollow = null;
  if (choice !== 'system') {
    root.dataset.theme = choice;
    return;
  }
  const query = window.matchMedia('(prefers-color-scheme: dark)');
  const follow = (): void => {
    root.dataset.theme = query.matches ? 'dark' : 'light';
  };
  follow();
  query.addEventListener('change', follow);
  unfollow = () => query.removeEventListener('change', follow);
}

export function saveTheme(choice: ThemeChoice): void {
  applyTheme(choice);
  try {
    localStorage.setItem(STORAGE_KEY, choice);
  } catch {
    // not remembered; the choice still holds for this page
  }
}
