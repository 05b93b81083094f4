/**
 * Light or dark colours: by default the page follows the system
 * (prefers-color-scheme, handled in styles.css); the settings can pin one.
 * The choice is kept in localStorage and applied as data-theme on <html>,
 * which styles.css reads.
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

/** Applies a choice to the page ('system': no attribute, the media query decides). */
export function applyTheme(choice: ThemeChoice, root: HTMLElement = document.documentElement): void {
  if (choice === 'system') delete root.dataset.theme;
  else root.dataset.theme = choice;
}

export function saveTheme(choice: ThemeChoice): void {
  applyTheme(choice);
  try {
    localStorage.setItem(STORAGE_KEY, choice);
  } catch {
    // not remembered; the choice still holds for this page
  }
}
