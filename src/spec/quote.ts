// Input repeated in a problem is untrusted text: a key with a newline would split one
// problem into two lines (and forge the second), an escape sequence would drive the
// terminal that shows `converge validate`, and a 900 KB key would be one 900 KB line. Every
// piece of input a message repeats passes through quote(); text that is not the user's own
// but may carry it (a parser's message, an OS error) passes through oneLine().

/** How much of a quoted piece of input is shown; enough for any real field name or value. */
export const QUOTE_MAX = 100;
/** How much of a whole message or field path is shown. */
export const LINE_MAX = 1000;

/**
 * Never shown raw: C0 and C1 controls and DEL (Cc), invisible format characters such as
 * bidi overrides and zero-width spaces (Cf, which can make one key look like another),
 * private-use characters, line and paragraph separators, and lone surrogates (Cs: with the
 * u flag only unpaired halves match, so an emoji is kept).
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Co}\p{Zl}\p{Zp}]|\p{Cs}/gu;
const UNSAFE_OR_QUOTE = {
  "'": /[\p{Cc}\p{Cf}\p{Co}\p{Zl}\p{Zp}\\']|\p{Cs}/gu,
  '"': /[\p{Cc}\p{Cf}\p{Co}\p{Zl}\p{Zp}\\"]|\p{Cs}/gu,
};
const SHORT: Record<string, string> = { '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r', '\\': '\\\\', "'": "\\'", '"': '\\"' };

/** JSON's escapes: the short ones where JSON has them, else \uXXXX per UTF-16 unit. */
function escapeChar(c: string): string {
  const short = SHORT[c];
  if (short !== undefined) return short;
  let out = '';
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
}

/** The first `max` UTF-16 units of text, one less when the cut would split a surrogate pair. */
function clip(text: string, max: number): string {
  const end = max > 0 && /[\ud800-\udbff]/.test(text[max - 1] ?? '') ? max - 1 : max;
  return text.slice(0, end);
}

/**
 * A piece of input as it appears in a message: in quotes (single by default, double in field
 * paths), with control and invisible characters, the quote mark and backslashes escaped
 * JSON-style, and cut after `max` characters with an ellipsis outside the quotes, so a cut
 * is never mistaken for the value: 'imagePullPolicyy', 'a\nb', 'kkkk'…
 */
export function quote(text: string, options: { max?: number; mark?: "'" | '"' } = {}): string {
  const { max = QUOTE_MAX, mark = "'" } = options;
  const cut = text.length > max;
  const escaped = (cut ? clip(text, max) : text).replace(UNSAFE_OR_QUOTE[mark], escapeChar);
  return `${mark}${escaped}${mark}${cut ? '…' : ''}`;
}

/**
 * Text that may carry input but is not a single value (a parser's message, a file name, a
 * whole problem): control and invisible characters escaped, nothing quoted (a backslash
 * stays as it is), and cut after `max` characters with an ellipsis. It is always one line.
 */
export function oneLine(text: string, max = LINE_MAX): string {
  const cut = text.length > max;
  return (cut ? clip(text, max) : text).replace(UNSAFE, escapeChar) + (cut ? '…' : '');
}
