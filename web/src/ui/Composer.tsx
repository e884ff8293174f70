import { useEffect, useRef, useState } from 'preact/hooks';
import { abort, composerFill, currentConv, limits, loadDraft, notifyTyping, saveDraft, send, showToast, startChat } from '../store';
import { Icon } from './Icon';
import { warmMarkdown } from '../markdown';
import { canDictate, MicButton } from './Dictation';
import { canRecord, MemoBar, MemoButton, useVoiceMemo } from './VoiceMemo';
import { DEFAULT_LIMITS, fmtBytes, prepare, textBytes, type Attachment } from '../attachments';

// The server reads WebSocket frames of up to 8 MiB; base64 attachments must fit in one frame.
const MAX_FRAME_ATTACHMENTS = 7.5 * 1024 * 1024;

const touch = () => matchMedia('(pointer: coarse)').matches;

/** The message box. conv '' is the landing view: its first message creates the conversation. */
export function Composer({ conv, readOnly, agent }: { conv: string; readOnly?: boolean; agent?: string }) {
  const dk = conv || 'new';
  const [text, setText] = useState(() => loadDraft(dk));
  const [atts, setAtts] = useState<Attachment[]>([]);
  const [busy, setBusy] = useState(false);
  const [drag, setDrag] = useState(false);
  const ta = useRef<HTMLTextAreaElement>(null);
  const file = useRef<HTMLInputElement>(null);
  const camera = useRef<HTMLInputElement>(null);
  const running = conv ? currentConv.value.running : false;
  // Dictation appends what is spoken to the text that was there when it started.
  const spokenBase = useRef('');
  // Without dictation, a voice memo (recorded audio) is attached to the next message instead.
  const [memos] = useState(() => !canDictate() && canRecord());
  const memo = useVoiceMemo((f) => addFiles([f]), showToast);
  const recording = memo.state !== 'idle';

  const shownDraft = useRef(dk);
  useEffect(() => {
    // on mount the state already holds the draft: reloading it would drop keys typed meanwhile
    if (shownDraft.current !== dk) { shownDraft.current = dk; setText(loadDraft(dk)); setAtts([]); }
    ta.current?.focus({ preventScroll: true });
  }, [dk]);
  useEffect(() => { const t = setTimeout(() => saveDraft(dk, text), 250); return () => clearTimeout(t); }, [dk, text]);
  const fill = composerFill.value;
  useEffect(() => {
    if (!fill || fill.conv !== conv) return;
    composerFill.value = null;
    setText(fill.text);
    const el = ta.current;
    if (el) { el.focus(); requestAnimationFrame(() => el.setSelectionRange(el.value.length, el.value.length)); }
  }, [fill, conv]);
  useEffect(() => {
    const el = ta.current;
    if (!el) return;
    el.style.height = 'auto';
    const max = innerHeight * 0.4;
    el.style.height = Math.min(el.scrollHeight + 2, max) + 'px';
    el.style.overflowY = el.scrollHeight > max ? 'auto' : 'hidden';
  }, [text]);

  const maxText = limits.value.maxTextBytes ?? DEFAULT_LIMITS.maxTextBytes;
  const size = textBytes(text);

  const addFiles = async (files: FileList | File[] | null) => {
    if (!files || !files.length) return;
    setBusy(true);
    const next: Attachment[] = [];
    for (const f of Array.from(files)) {
      try { next.push(await prepare(f, limits.value)); } catch (e: any) { showToast(e.message); }
    }
    setAtts((a) => a.concat(next));
    setBusy(false);
  };

  const submit = () => {
    const t = text.trim();
    if ((!t && !atts.length) || busy || recording) return;
    if (size > maxText) { showToast(`Message too long (${fmtBytes(size)}, limit ${fmtBytes(maxText)})`); return; }
    const encoded = atts.reduce((n, a) => n + a.content.length, 0);
    if (encoded > MAX_FRAME_ATTACHMENTS) { showToast(`Attachments too large together (${fmtBytes(encoded)} encoded); send them in several messages`); return; }
    if (!conv) {
      // landing: keep the text until the conversation exists
      setBusy(true);
      startChat(t, atts, agent).then((ok) => {
        setBusy(false);
        if (ok) { releasePreviews(atts); setText(''); setAtts([]); saveDraft(dk, ''); }
      });
      return;
    }
    notifyTyping(conv, false);
    send(conv, t, atts);
    releasePreviews(atts);
    setText(''); setAtts([]); saveDraft(dk, '');
  };

  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !touch()) { e.preventDefault(); submit(); }
  };

  if (readOnly) return null;
  return (
    <form class={'composer' + (drag ? ' drag' : '')} onSubmit={(e) => { e.preventDefault(); submit(); }}
      onDragOver={(e) => { e.preventDefault(); setDrag(true); }} onDragLeave={() => setDrag(false)}
      onDrop={(e) => { e.preventDefault(); setDrag(false); addFiles(e.dataTransfer?.files ?? null); }}>
      {atts.length > 0 && (
        <ul class="att-list" aria-label="Attachments">
          {atts.map((a, i) => (
            <li key={i} class="att">
              {a.preview && a.mimeType.startsWith('image/') ? <img src={a.preview} alt="" /> : <Icon name={a.mimeType.startsWith('audio/') ? 'mic' : 'file'} />}
              <span class="att-name">{a.name} <small>{fmtBytes(a.size)}</small></span>
              <button type="button" class="icon" aria-label={`Remove ${a.name}`} onClick={() => setAtts(atts.filter((_, j) => j !== i))}><Icon name="close" size={16} /></button>
            </li>
          ))}
        </ul>
      )}
      {recording && memo.state === 'recording' && <MemoBar elapsed={memo.elapsed} onStop={memo.stop} onCancel={memo.cancel} />}
      <div class="row">
        <button type="button" class="icon attach" aria-label="Attach files" title="Attach" onClick={() => file.current?.click()}><Icon name="attach" /></button>
        <input ref={file} type="file" multiple hidden onChange={(e) => { const el = e.target as HTMLInputElement; addFiles(el.files).then(() => (el.value = '')); }} />
        <button type="button" class="icon camera" aria-label="Take a photo" title="Camera" onClick={() => camera.current?.click()}><Icon name="camera" /></button>
        <input ref={camera} class="camera-input" type="file" accept="image/*" capture="environment" hidden onChange={(e) => { const el = e.target as HTMLInputElement; addFiles(el.files).then(() => (el.value = '')); }} />
        <label for="composer-input" class="sr-only">Message</label>
        <textarea id="composer-input" ref={ta} rows={1} value={text} placeholder={conv ? 'Message' : 'Ask anything'} enterkeyhint={touch() ? 'enter' : 'send'}
          onInput={(e) => { warmMarkdown(); const v = (e.target as HTMLTextAreaElement).value; setText(v); if (conv) notifyTyping(conv, v.trim() !== ''); }} onKeyDown={onKey}
          onBlur={() => conv && notifyTyping(conv, false)}
          onPaste={(e) => { const f = e.clipboardData?.files; if (f && f.length) { e.preventDefault(); addFiles(f); } }} />
        {canDictate() && !running && (
          <MicButton onStart={() => { spokenBase.current = text; }} onError={showToast}
            onText={(spoken) => { const b = spokenBase.current; setText(b && spoken ? b.replace(/\s*$/, ' ') + spoken : b + spoken); }} />
        )}
        {memos && (!running || recording) && <MemoButton state={memo.state} onStart={memo.start} onStop={memo.stop} />}
        {running
          ? <button type="button" class="stop" onClick={() => abort(conv)} aria-label="Stop (Esc)" title="Stop (Esc)"><Icon name="stop" /></button>
          : null}
        <button type="submit" class="send primary" disabled={busy || recording || (!text.trim() && !atts.length)} aria-label="Send" title="Send"><Icon name="send" /></button>
      </div>
      {size > maxText * 0.8 && <p class={'count' + (size > maxText ? ' over' : '')}>{fmtBytes(size)} / {fmtBytes(maxText)}</p>}
    </form>
  );
}

/** Free the sent attachments' local previews, except audio: the transcript plays it until reload. */
function releasePreviews(atts: Attachment[]) {
  atts.forEach((a) => a.preview && !a.mimeType.startsWith('audio/') && URL.revokeObjectURL(a.preview));
}
