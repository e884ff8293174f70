import { useLayoutEffect, useRef } from 'preact/hooks';
import { signal } from '@preact/signals';
import { renderMarkdown, stableEnd, tableToMarkdown, tableToTSV } from '../markdown';
import { Icon } from './Icon';

/** The table shown full-screen by "Expand" (already sanitised DOM; shown as a clone). */
const expanded = signal<HTMLTableElement | null>(null);

export function TableView() {
  const t = expanded.value;
  const box = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    if (!t || !box.current) return;
    box.current.replaceChildren(t.cloneNode(true));
    const k = (e: KeyboardEvent) => { if (e.key === 'Escape') { e.preventDefault(); expanded.value = null; } };
    addEventListener('keydown', k, true);
    box.current?.focus();
    return () => removeEventListener('keydown', k, true);
  }, [t]);
  if (!t) return null;
  return (
    <div class="table-full" role="dialog" aria-label="Table">
      <div class="table-full-bar"><button class="icon" aria-label="Close table" onClick={() => (expanded.value = null)}><Icon name="close" /></button></div>
      <div class="md table-full-body" ref={box} tabIndex={0} />
    </div>
  );
}

/**
 * Renders markdown through the sanitiser, at most once per frame. While a reply streams, the
 * complete blocks (up to stableEnd) are rendered and sanitised once and kept; each frame only
 * re-renders the block still being written. A finished message is rendered in one go.
 */
export function Markdown({ text, class: cls, streaming }: { text: string; class?: string; streaming?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  const frame = useRef(0);
  const inc = useRef<{ done: number; src: string; tail: Node[] } | null>(null);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    cancelAnimationFrame(frame.current);
    const doc = el.ownerDocument;
    const draw = () => {
      let st = inc.current;
      if (!streaming && !st) {
        el.replaceChildren(renderMarkdown(text, doc));
      } else {
        if (!st || !text.startsWith(st.src.slice(0, st.done))) {
          st = inc.current = { done: 0, src: '', tail: [] };
          el.replaceChildren();
        }
        for (const n of st.tail) n.parentNode === el && el.removeChild(n);
        const end = streaming ? stableEnd(text, st.done) : text.length;
        if (end > st.done) el.append(renderMarkdown(text.slice(st.done, end), doc));
        st.done = end;
        st.src = text;
        const tail = renderMarkdown(text.slice(end), doc);
        st.tail = Array.from(tail.childNodes);
        el.append(tail);
      }
    };
    if (!el.firstChild) draw(); else frame.current = requestAnimationFrame(draw);
    return () => cancelAnimationFrame(frame.current);
  }, [text, streaming]);
  return <div ref={ref} class={'md ' + (cls ?? '')} />;
}

/** Click delegation for copy buttons and remote-image placeholders inside rendered markdown. */
export function onMarkdownClick(e: MouseEvent): void {
  const t = e.target as HTMLElement;
  const copy = t.closest?.('button.copy-code') as HTMLButtonElement | null;
  if (copy) {
    const code = copy.closest('.codeblock')?.querySelector('pre')?.textContent ?? '';
    navigator.clipboard?.writeText(code).then(() => {
      copy.textContent = 'Copied';
      setTimeout(() => (copy.textContent = 'Copy'), 1500);
    }).catch(() => (copy.textContent = 'Copy failed'));
    return;
  }
  const unfold = t.closest?.('button.unfold') as HTMLButtonElement | null;
  if (unfold) { unfold.closest('.codeblock')?.classList.remove('folded'); unfold.remove(); return; }
  const wrap = t.closest?.('button.wrap-code') as HTMLButtonElement | null;
  if (wrap) {
    const on = !!wrap.closest('.codeblock')?.classList.toggle('wrap');
    wrap.setAttribute('aria-pressed', String(on));
    return;
  }
  const ct = t.closest?.('button.copy-table, button.expand-table') as HTMLButtonElement | null;
  const table = ct?.closest('.tablewrap')?.querySelector('table');
  if (ct && table) {
    if (ct.classList.contains('expand-table')) { expanded.value = table; return; }
    const text = ct.dataset.format === 'tsv' ? tableToTSV(table) : tableToMarkdown(table);
    const label = ct.textContent;
    navigator.clipboard?.writeText(text).then(() => {
      ct.textContent = 'Copied';
      setTimeout(() => (ct.textContent = label), 1500);
    }).catch(() => (ct.textContent = 'Copy failed'));
    return;
  }
  const img = t.closest?.('button.remote-img') as HTMLButtonElement | null;
  if (img?.dataset.remoteSrc && /^https?:\/\//i.test(img.dataset.remoteSrc)) {
    window.open(img.dataset.remoteSrc, '_blank', 'noopener,noreferrer');
  }
}
