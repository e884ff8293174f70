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
 * Renders markdown through the sanitiser. While a reply streams, the complete blocks (up to
 * stableEnd) are rendered and sanitised once and kept; each draw only re-renders the block still
 * being written. A draw runs as its own task just after a frame is painted (so that its script
 * and the browser's style and layout of what it added fall into different tasks), and it stops
 * after BUDGET ms: text that arrives in a burst (often the whole final reply) is drawn over
 * several frames, a slice of whole blocks at a time. A finished message from history is
 * rendered in one go.
 */
export function Markdown({ text, class: cls, streaming }: { text: string; class?: string; streaming?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  const pending = useRef(false);
  const alive = useRef(true);
  const inc = useRef<{ src: string; chunks: { end: number; nodes: Node[] }[]; tail: Node[] } | null>(null);
  const latest = useRef({ text, streaming });
  latest.current = { text, streaming };
  useLayoutEffect(() => () => { alive.current = false; }, []);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const doc = el.ownerDocument;
    const schedule = () => {
      pending.current = true;
      requestAnimationFrame(() => afterPaint(() => { if (alive.current) draw(); }));
    };
    let drawn = 0;
    const draw = () => {
      const t0 = performance.now();
      drawn = 0;
      try { draw0(t0); } finally {
        // A user-timing entry per draw, for PerformanceObserver (the e2e test); it is cleared at
        // once so that a long session does not accumulate entries.
        try { performance.measure('clawchat:markdown', { start: t0, detail: { chars: latest.current.text.length, drawn: drawn } }); performance.clearMeasures('clawchat:markdown'); } catch { /* old browsers */ }
      }
    };
    const draw0 = (t0: number) => {
      pending.current = false;
      const { text, streaming } = latest.current;
      let st = inc.current;
      if (!streaming && !st) {
        el.replaceChildren(renderMarkdown(text, doc));
        return;
      }
      if (!st) { st = inc.current = { src: '', chunks: [], tail: [] }; el.replaceChildren(); }
      // Keep the rendered chunks the new text still starts with (the final text may differ
      // from the streamed one near its end); re-render from there. The final text usually
      // equals the streamed one: then nothing already drawn is touched.
      const same = text.startsWith(st.src) ? st.src.length : commonPrefix(st.src, text);
      while (st.chunks.length && st.chunks[st.chunks.length - 1].end > same) {
        for (const n of st.chunks.pop()!.nodes) n.parentNode === el && el.removeChild(n);
      }
      for (const n of st.tail) n.parentNode === el && el.removeChild(n);
      st.tail = [];
      st.src = text;
      let done = st.chunks.length ? st.chunks[st.chunks.length - 1].end : 0;
      const limit = streaming ? stableEnd(text, done) : text.length;
      while (done < limit) {
        // the next slice: whole blocks, at least STEP characters of them (or all up to limit)
        let cut = stableEnd(text.slice(0, limit), done, done + STEP);
        if (cut <= done) cut = limit;
        const frag = renderMarkdown(text.slice(done, cut), doc);
        drawn += cut - done;
        st.chunks.push({ end: cut, nodes: Array.from(frag.childNodes) });
        el.append(frag);
        done = cut;
        if (done < limit && performance.now() - t0 > BUDGET) { schedule(); return; }
      }
      if (done < text.length) {
        const tail = renderMarkdown(text.slice(done), doc);
        st.tail = Array.from(tail.childNodes);
        el.append(tail);
      }
    };
    // The first paint is immediate; later changes draw after the next frame. A pending draw is
    // never cancelled by a newer change (it draws the latest text), so deltas arriving faster
    // than frames cannot starve the rendering until the reply ends.
    if (!el.firstChild && !pending.current) draw();
    else if (!pending.current) schedule();
  }, [text, streaming]);
  return <div ref={ref} class={'md ' + (cls ?? '')} />;
}

/**
 * How long one draw may run, in ms of real time (so it holds under CPU throttling too): a draw
 * stops after the slice that crosses it and goes on after the next frame. A slice of ~1,000
 * characters took 27–42 ms at 4× slowdown and its style and layout as long again, in one task.
 */
const BUDGET = 8;

/** The smallest slice of whole blocks a draw renders at once (one parse and sanitise each). */
const STEP = 120;

/** Runs f in a task of its own as soon as possible (a MessageChannel message: no timer clamping). */
function afterPaint(f: () => void): void {
  if (!channel) {
    channel = new MessageChannel();
    channel.port1.onmessage = () => { const q = queued; queued = []; for (const g of q) g(); };
  }
  queued.push(f);
  if (queued.length === 1) channel.port2.postMessage(null);
}
let channel: MessageChannel | null = null;
let queued: (() => void)[] = [];

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
