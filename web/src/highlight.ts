// A tiny, safe code highlighter. It tokenizes plain text (never HTML) and builds DOM nodes whose
// content is set with textContent, so no markup is ever produced from the code itself.

export type TokKind = 'kw' | 'str' | 'com' | 'num' | 'txt';
export interface Tok { k: TokKind; t: string }

const KW = new Set((
  'abstract async await break case catch class const continue def default defer del delete do elif else enum export ' +
  'extends false final finally fn for from func function go if impl import in interface is let match mod module ' +
  'mut new nil none null package pass private protected pub public raise return select self static struct super ' +
  'switch this throw trait true try type typeof undefined use var void while with yield True False None echo then fi ' +
  'esac done local'
).split(' '));

// Strings, comments, numbers, identifiers; everything else is plain text.
const RE = /(\/\/[^\n]*|#[^\n]*|\/\*[\s\S]*?\*\/|--[^\n]*)|("(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`)|(\b\d[\d_]*(?:\.\d+)?(?:e[+-]?\d+)?\b|\b0x[0-9a-f]+\b)|([A-Za-z_$][\w$]*)/gi;

/** Split code into tokens. Comment styles are guessed loosely from lang. */
export function tokenize(code: string, lang = ''): Tok[] {
  const out: Tok[] = [];
  const hashComments = /^(py|python|sh|bash|shell|zsh|rb|ruby|yaml|yml|toml|perl|r|make|makefile|dockerfile|conf|ini)$/i.test(lang);
  const dashComments = /^(sql|lua|haskell|hs)$/i.test(lang);
  let last = 0;
  RE.lastIndex = 0;
  for (let m = RE.exec(code); m; m = RE.exec(code)) {
    let kind: TokKind = 'txt';
    if (m[1] !== undefined) {
      const c = m[1];
      if ((c.startsWith('#') && !hashComments) || (c.startsWith('--') && !dashComments)) {
        // not a comment in this language: emit the first char as text and rescan after it
        RE.lastIndex = m.index + 1;
        continue;
      }
      kind = 'com';
    } else if (m[2] !== undefined) kind = 'str';
    else if (m[3] !== undefined) kind = 'num';
    else if (m[4] !== undefined) kind = KW.has(m[4]) ? 'kw' : 'txt';
    if (m.index > last) out.push({ k: 'txt', t: code.slice(last, m.index) });
    out.push({ k: kind, t: m[0] });
    last = m.index + m[0].length;
  }
  if (last < code.length) out.push({ k: 'txt', t: code.slice(last) });
  // merge adjacent text tokens
  const merged: Tok[] = [];
  for (const t of out) {
    const p = merged[merged.length - 1];
    if (p && p.k === 'txt' && t.k === 'txt') p.t += t.t; else merged.push({ ...t });
  }
  return merged;
}

/** Replace code's children with highlighted spans built from its own textContent. */
export function highlightElement(code: HTMLElement, lang: string): void {
  const text = code.textContent ?? '';
  if (text.length > 100_000) return;
  const doc = code.ownerDocument;
  const frag = doc.createDocumentFragment();
  for (const tok of tokenize(text, lang)) {
    if (tok.k === 'txt') frag.appendChild(doc.createTextNode(tok.t));
    else {
      const s = doc.createElement('span');
      s.className = 'tok-' + tok.k;
      s.textContent = tok.t;
      frag.appendChild(s);
    }
  }
  code.replaceChildren(frag);
}
