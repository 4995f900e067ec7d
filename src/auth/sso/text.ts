// Control characters in what users and administrators type (usernames, return paths): detected
// and replaced without regular expressions over raw control characters.

const isControl = (code: number) => code < 0x20 || code === 0x7f

/** Whether the text holds a C0 control character (NUL, newline, ...) or DEL. */
export function hasControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (isControl(text.charCodeAt(i))) return true
  return false
}

/** The text with each control character replaced by `?` (fit for logs and the audit trail). */
export function withoutControlCharacters(text: string): string {
  let out = ''
  for (let i = 0; i < text.length; i++) out += isControl(text.charCodeAt(i)) ? '?' : text[i]
  return out
}

/** Replaces each character `replacement` maps (the others stay). */
export function mapCharacters(text: string, replacement: (char: string) => string | undefined): string {
  let out = ''
  for (const char of text) out += replacement(char) ?? char
  return out
}
