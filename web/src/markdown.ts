// Markdown rendering for assistant output, which is treated as hostile (prompt injection).
// marked turns markdown into HTML with raw HTML escaped (never passed through), DOMPurify then
// sanitises the result in an inert document, and a hook:
//   - keeps only http(s) and mailto links, opening them in a new tab without opener/referrer;
//   - never lets a remote image load: <img src=remote> becomes a click-to-open placeholder;
//   - drops every inline event handler, style, form, frame, svg and math element.
// The result is a DocumentFragment, so callers never assign an HTML string to innerHTML.
import { Marked } from 'marked';
import DOMPurify from 'dompurify';
import { highlightElement } from './highlight';

const escapeHTML = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

const md = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  renderer: {
    // Raw HTML in model output is shown as text, never interpreted.
    html(token: { text: string }) { return escapeHTML(token.text); },
  },
});

const SAFE_LINK = /^(https?:|mailto:)/i;
const SAFE_DATA_IMG = /^data:image\/(png|jpe?g|gif|webp);base64,[a-z0-9+/=\s]*$/i;

let purifier: ReturnType<typeof DOMPurify> | null = null;

function getPurifier(win: Window & typeof globalThis): ReturnType<typeof DOMPurify> {
  if (purifier) return purifier;
  const p = DOMPurify(win);
  p.addHook('afterSanitizeAttributes', (node: Element) => {
    const tag = node.nodeName;
    if (tag === 'A') {
      const href = (node.getAttribute('href') ?? '').trim();
      if (!SAFE_LINK.test(href)) node.removeAttribute('href');
      else {
        node.setAttribute('target', '_blank');
        node.setAttribute('rel', 'noopener noreferrer');
        node.setAttribute('referrerpolicy', 'no-referrer');
      }
    } else if (tag === 'IMG') {
      const src = (node.getAttribute('src') ?? '').trim();
      node.removeAttribute('srcset');
      if (!SAFE_DATA_IMG.test(src)) {
        node.removeAttribute('src');
        if (/^https?:/i.test(src)) node.setAttribute('data-remote-src', src);
      }
    }
    for (const a of Array.from(node.attributes)) {
      if (/^on/i.test(a.name) || a.name === 'style') node.removeAttribute(a.name);
    }
  });
  // The configuration is parsed once here, not on every call (a streaming reply is sanitised a
  // slice at a time).
  p.setConfig(PURIFY_CONFIG);
  purifier = p;
  return p;
}

const PURIFY_CONFIG = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'frame', 'object', 'embed', 'svg', 'math', 'link', 'meta', 'base', 'video', 'audio', 'source', 'picture'],
  FORBID_ATTR: ['style', 'srcset', 'formaction', 'action', 'ping', 'background', 'poster'],
  ALLOW_DATA_ATTR: false,
  ADD_ATTR: ['data-remote-src'],
  RETURN_DOM_FRAGMENT: true,
};

/** Convert markdown to sanitised HTML (string) — exported for tests. */
export function markdownToHTML(src: string): string {
  return md.parse(src ?? '') as string;
}

/**
 * Render markdown into a sanitised DocumentFragment owned by doc: code blocks highlighted
 * and given a copy button, remote images replaced by placeholders.
 */
export function renderMarkdown(src: string, doc: Document = document): DocumentFragment {
  const win = doc.defaultView as Window & typeof globalThis;
  const frag = getPurifier(win).sanitize(markdownToHTML(src)) as unknown as DocumentFragment;
  decorate(frag, doc);
  return frag;
}

/** Code blocks longer than this many lines start folded. */
export const FOLD_LINES = 24;

function decorate(frag: DocumentFragment, doc: Document): void {
  for (const img of Array.from(frag.querySelectorAll('img'))) {
    const remote = img.getAttribute('data-remote-src');
    if (!img.getAttribute('src')) {
      const b = doc.createElement('button');
      b.type = 'button';
      b.className = 'remote-img';
      const alt = img.getAttribute('alt') ?? '';
      if (remote) {
        let host = '';
        try { host = new URL(remote).host; } catch { /* ignore */ }
        b.dataset.remoteSrc = remote;
        b.textContent = `Image${alt ? ` “${alt}”` : ''} from ${host} (not loaded) — open`;
        b.title = 'Remote image, not loaded. Click to open it in a new tab.';
      } else {
        b.disabled = true;
        b.textContent = `Image${alt ? ` “${alt}”` : ''} (blocked)`;
      }
      img.replaceWith(b);
    }
  }
  for (const table of Array.from(frag.querySelectorAll('table'))) {
    // A table scrolls sideways in its own box, with copy (Markdown, TSV) and an expand view.
    const wrap = doc.createElement('div');
    wrap.className = 'tablewrap';
    const bar = doc.createElement('div');
    bar.className = 'tablebar';
    const btn = (cls: string, text: string, label: string, fmt?: string) => {
      const b = doc.createElement('button');
      b.type = 'button';
      b.className = cls;
      b.textContent = text;
      b.setAttribute('aria-label', label);
      if (fmt) b.dataset.format = fmt;
      return b;
    };
    bar.append(btn('copy-table', 'Copy', 'Copy table as Markdown', 'md'), btn('copy-table', 'TSV', 'Copy table as tab-separated values', 'tsv'),
      btn('expand-table', 'Expand', 'Expand table'));
    const scroll = doc.createElement('div');
    scroll.className = 'tablescroll';
    scroll.tabIndex = 0;
    scroll.setAttribute('role', 'region');
    scroll.setAttribute('aria-label', 'Table, scrolls sideways');
    table.replaceWith(wrap);
    scroll.append(table);
    wrap.append(scroll, bar);
  }
  for (const pre of Array.from(frag.querySelectorAll('pre'))) {
    const code = pre.querySelector('code');
    if (code) {
      const lang = /language-([\w+#-]+)/.exec(code.className)?.[1] ?? '';
      highlightElement(code as HTMLElement, lang);
    }
    const wrap = doc.createElement('div');
    wrap.className = 'codeblock';
    const bar = doc.createElement('div');
    bar.className = 'codebar';
    const lang = /language-([\w+#-]+)/.exec(code?.className ?? '')?.[1] ?? '';
    const label = doc.createElement('span');
    label.textContent = lang;
    const copy = doc.createElement('button');
    copy.type = 'button';
    copy.className = 'copy-code';
    copy.textContent = 'Copy';
    copy.setAttribute('aria-label', 'Copy code');
    const wrapBtn = doc.createElement('button');
    wrapBtn.type = 'button';
    wrapBtn.className = 'wrap-code';
    wrapBtn.textContent = 'Wrap';
    wrapBtn.setAttribute('aria-pressed', 'false');
    wrapBtn.setAttribute('aria-label', 'Wrap long lines');
    const tools = doc.createElement('span');
    tools.append(wrapBtn, copy);
    bar.append(label, tools);
    pre.replaceWith(wrap);
    wrap.append(bar, pre);
    // Long blocks are folded to their first lines, with a button to show the rest.
    const lines = (pre.textContent ?? '').replace(/\n$/, '').split('\n').length;
    if (lines > FOLD_LINES) {
      wrap.classList.add('folded');
      const more = doc.createElement('button');
      more.type = 'button';
      more.className = 'unfold';
      more.textContent = `Show all ${lines} lines`;
      wrap.append(more);
    }
  }
}

/** The table's cells as rows of text. */
function cells(table: HTMLTableElement): string[][] {
  return Array.from(table.rows, (r) => Array.from(r.cells, (c) => (c.textContent ?? '').replace(/\s+/g, ' ').trim()));
}

/** A table as tab-separated values (tabs and newlines in cells become spaces). */
export function tableToTSV(table: HTMLTableElement): string {
  return cells(table).map((r) => r.join('\t')).join('\n');
}

/** A table as a GitHub-flavoured Markdown table; the first row is the header. */
export function tableToMarkdown(table: HTMLTableElement): string {
  const rows = cells(table).map((r) => '| ' + r.map((c) => c.replace(/\|/g, '\\|')).join(' | ') + ' |');
  if (!rows.length) return '';
  const n = table.rows[0]?.cells.length ?? 0;
  rows.splice(1, 0, '|' + ' --- |'.repeat(n));
  return rows.join('\n');
}

const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/**
 * The end of the stable part of streaming Markdown src: the offset just after the last blank
 * line (outside fenced code) that is followed by an unindented line, at or after from (which
 * must itself be such a boundary, or 0). Blocks before it are complete: new text can only add
 * blocks after them, so they are rendered and sanitised once while the reply streams on.
 * With upTo, the first such boundary at or after upTo is returned instead, if there is one
 * (a slice of whole blocks of at least upTo - from characters).
 */
export function stableEnd(src: string, from = 0, upTo = Infinity): number {
  let end = from;
  let fence = '';
  let blank = false;
  let i = from;
  while (i < src.length) {
    const nl = src.indexOf('\n', i);
    if (nl < 0) {
      // the last line is still being written: its first character is enough to end a block
      if (!fence && blank && /^\S/.test(src.slice(i))) end = i;
      break;
    }
    const line = src.slice(i, nl);
    if (fence) {
      if (line.trim().startsWith(fence) && line.trim().replace(/[`~]/g, '') === '') fence = '';
    } else if (line.trim() === '') {
      blank = true;
    } else {
      if (blank && !/^\s/.test(line)) { end = i; if (end >= upTo) return end; }
      blank = false;
      const f = FENCE.exec(line);
      if (f) fence = f[1][0].repeat(3);
    }
    i = nl + 1;
  }
  return end;
}

/**
 * Compiles the Markdown pipeline (marked, DOMPurify, the highlighter, the decorations) before a
 * reply needs it: its first use costs tens of milliseconds of lazy compilation at 4× CPU
 * slowdown, which would otherwise land on the frame that shows a reply's first words. The work
 * runs at idle time, once per page, in small steps (one idle callback each, each well under the
 * 50 ms of a long task).
 */
export function warmMarkdown(doc: Document = document): void {
  if (warmed) return;
  warmed = true;
  const sanitize = (html: string) => getPurifier(doc.defaultView as Window & typeof globalThis).sanitize(html);
  const steps = [
    () => markdownToHTML('Some *text*, **bold**, `code` and a [link](https://example.com).'),
    () => markdownToHTML('# Heading\n\n- a\n- b\n\n1. one\n\n> quote'),
    () => markdownToHTML('| a | b |\n| --- | --- |\n| 1 | 2 |'),
    () => markdownToHTML('```js\nconst x = 1;\n```'),
    () => sanitize('<p>x</p>'),
    () => sanitize('<h1>h</h1><ul><li><a href="https://example.com">x</a></li></ul><img src="https://example.com/i.png">'),
    () => sanitize('<table><thead><tr><th>a</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table><pre><code class="language-js">x</code></pre>'),
    () => renderMarkdown('Some *text* and a [link](https://example.com).', doc),
    () => renderMarkdown('| a | b |\n| --- | --- |\n| 1 | 2 |', doc),
    () => renderMarkdown('```js\nconst x = "y"; // z\nfor (let i = 0; i < 2; i++) f(i);\n```', doc),
  ];
  const idle = (f: () => void) => ('requestIdleCallback' in window ? requestIdleCallback(() => f(), { timeout: 3000 }) : setTimeout(f, 100));
  const next = () => { const f = steps.shift(); if (f) { f(); idle(next); } };
  idle(next);
}
let warmed = false;
