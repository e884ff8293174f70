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
  const inc = useRef<{ src: string; chunks: { end: number; nodes: Node[] }[]; tail: Node[] } | null>(null);
  const latest = useRef({ text, streaming });
  latest.current = { text, streaming };
  useLayoutEffect(() => () => cancelAnimationFrame(frame.current), []);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const doc = el.ownerDocument;
    const draw = () => {
      const t0 = performance.now();
      try { draw0(); } finally {
        // A user-timing entry per draw, for PerformanceObserver (the e2e test); it is cleared at
        // once so that a long session does not accumulate entries.
        try { performance.measure('clawchat:markdown', { start: t0, detail: { chars: latest.current.text.length } }); performance.clearMeasures('clawchat:markdown'); } catch { /* old browsers */ }
      }
    };
    const draw0 = () => {
      frame.current = 0;
      const { text, streaming } = latest.current;
      let st = inc.current;
      if (!streaming && !st) {
        el.replaceChildren(renderMarkdown(text, doc));
        return;
      }
      if (!st) { st = inc.current = { src: '', chunks: [], tail: [] }; el.replaceChildren(); }
      // Keep the rendered chunks the new text still starts with (the final text may differ
      // from the streamed one near its end); re-render from there.
      const same = commonPrefix(st.src, text);
      while (st.chunks.length && st.chunks[st.chunks.length - 1].end > same) {
        for (const n of st.chunks.pop()!.nodes) n.parentNode === el && el.removeChild(n);
      }
      for (const n of st.tail) n.parentNode === el && el.removeChild(n);
      const done = st.chunks.length ? st.chunks[st.chunks.length - 1].end : 0;
      let end = streaming ? stableEnd(text, done) : text.length;
      // Text that arrives in a burst is rendered a slice of blocks per frame, so that no frame
      // parses and sanitises more than about SLICE characters.
      let more = false;
      if (end - done > SLICE) {
        const cut = stableEnd(text.slice(0, done + SLICE), done);
        if (cut > done) { end = cut; more = true; }
      }
      if (end > done) {
        const frag = renderMarkdown(text.slice(done, end), doc);
        st.chunks.push({ end, nodes: Array.from(frag.childNodes) });
        el.append(frag);
      }
      st.src = text;
      if (more) {
        st.tail = [];
        frame.current = requestAnimationFrame(draw);
        return;
      }
      const tail = renderMarkdown(text.slice(end), doc);
      st.tail = Array.from(tail.childNodes);
      el.append(tail);
    };
    // The first paint is immediate; later changes draw on the next frame. A pending frame is
    // never cancelled by a newer change (it draws the latest text), so deltas arriving faster
    // than frames cannot starve the rendering until the reply ends.
    if (!el.firstChild) draw();
    else if (!frame.current) frame.current = requestAnimationFrame(draw);
  }, [text, streaming]);
  return <div ref={ref} class={'md ' + (cls ?? '')} />;
}

/**
 * The most Markdown source one frame renders while text arrives in bursts: about 1,000
 * characters parse, sanitise and highlight in under 45 ms at 4× CPU slowdown (2,000 took 47–53).
 */
const SLICE = 1000;

function commonPrefix(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/** Click delegation for copy buttons and remote-image placeholders inside rendered markdown. */
export function onMarkdownClick(e: MouseEvent): void {
  const t = e.target as HTMLElement;
  const copy = t.closest?.('button.copy-code') as HTMLButtonElement | null;
  if (copy) {
    const code = (copy.closest('.codeblock')?.querySelector('pre')?.textContent ?? '').replace(/\n$/, '');
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
