import { useLayoutEffect, useRef } from 'preact/hooks';
import { renderMarkdown } from '../markdown';

/** Renders markdown through the sanitiser; re-renders at most once per frame while streaming. */
export function Markdown({ text, class: cls }: { text: string; class?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const frame = useRef(0);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    cancelAnimationFrame(frame.current);
    const draw = () => el.replaceChildren(renderMarkdown(text, el.ownerDocument));
    if (!el.firstChild) draw(); else frame.current = requestAnimationFrame(draw);
    return () => cancelAnimationFrame(frame.current);
  }, [text]);
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
  const img = t.closest?.('button.remote-img') as HTMLButtonElement | null;
  if (img?.dataset.remoteSrc && /^https?:\/\//i.test(img.dataset.remoteSrc)) {
    window.open(img.dataset.remoteSrc, '_blank', 'noopener,noreferrer');
  }
}
