/**
 * Plural forms of a text, by the CLDR plural categories that Intl.PluralRules
 * returns for a language (English: one, other; Chinese: other only). `other`
 * is always there: it is the form every language has.
 */
export type Plural = { other: string } & Partial<Record<'zero' | 'one' | 'two' | 'few' | 'many', string>>;

/** The form for `count` in `locale`; `other` when the language has no such category in the text. */
export function pickPlural(forms: Plural, count: number, locale: string): string {
  const category = new Intl.PluralRules(locale).select(count) as keyof Plural;
  return forms[category] ?? forms.other;
}
