// Voice memos: where the browser has no Web Speech API (see Dictation.tsx) but can record
// (MediaRecorder and getUserMedia), the composer records audio and attaches it to the next
// message. The Gateway accepts audio attachments (docs/api.md); the transcript plays them with an
// <audio> player. The microphone is open only while a memo is being recorded.
import { useEffect, useRef, useState } from 'preact/hooks';
import { Icon } from './Icon';

/** The longest memo: recording stops (and the memo is attached) at 2 minutes. */
export const MAX_MEMO_SECONDS = 120;

/** Whether this browser can record a voice memo (feature detection; no permission is asked). */
export function canRecord(): boolean {
  return typeof MediaRecorder !== 'undefined' && !!navigator.mediaDevices?.getUserMedia;
}

/** The first recording format the browser has that the Gateway stores as audio ('' its default). */
export function memoType(): string {
  for (const t of ['audio/webm;codecs=opus', 'audio/webm', 'audio/ogg;codecs=opus', 'audio/mp4']) {
    if (MediaRecorder.isTypeSupported?.(t)) return t;
  }
  return '';
}

/** m:ss */
export function fmtElapsed(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** A memo's file name: voice-memo-<date>-<time>.<ext of its type>. */
export function memoName(type: string, at: Date): string {
  const ext = type.startsWith('audio/mp4') ? 'm4a' : type.startsWith('audio/ogg') ? 'ogg' : 'webm';
  const p = (n: number) => String(n).padStart(2, '0');
  return `voice-memo-${at.getFullYear()}-${p(at.getMonth() + 1)}-${p(at.getDate())}-${p(at.getHours())}${p(at.getMinutes())}${p(at.getSeconds())}.${ext}`;
}

interface Take { rec: MediaRecorder; stream: MediaStream; chunks: Blob[]; started: number; timer: ReturnType<typeof setInterval>; keep: boolean }

export type MemoState = 'idle' | 'starting' | 'recording';

/**
 * Recording state for the composer. start asks for the microphone and records; stop ends the
 * memo and hands it to onDone as a File; cancel throws it away. Unmounting cancels.
 */
export function useVoiceMemo(onDone: (f: File) => void, onError: (msg: string) => void) {
  const [state, setState] = useState<MemoState>('idle');
  const [elapsed, setElapsed] = useState(0);
  const take = useRef<Take | null>(null);
  const alive = useRef(true);
  const done = useRef(onDone);
  done.current = onDone;

  const end = (keep: boolean) => {
    const t = take.current;
    if (!t) return;
    t.keep = keep;
    clearInterval(t.timer);
    if (t.rec.state !== 'inactive') t.rec.stop(); // onstop finishes
  };
  useEffect(() => { alive.current = true; return () => { alive.current = false; end(false); }; }, []);

  const start = async () => {
    if (state !== 'idle') return;
    setState('starting');
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (e: any) {
      setState('idle');
      onError(e?.name === 'NotAllowedError' || e?.name === 'SecurityError' ? 'Microphone access is blocked for this site' : 'No microphone to record with');
      return;
    }
    if (!alive.current) { stream.getTracks().forEach((tr) => tr.stop()); return; }
    const type = memoType();
    let rec: MediaRecorder;
    try {
      rec = new MediaRecorder(stream, type ? { mimeType: type, audioBitsPerSecond: 32000 } : { audioBitsPerSecond: 32000 });
    } catch {
      stream.getTracks().forEach((tr) => tr.stop());
      setState('idle');
      onError('This browser cannot record audio');
      return;
    }
    const t: Take = { rec, stream, chunks: [], started: Date.now(), timer: 0 as unknown as ReturnType<typeof setInterval>, keep: false };
    rec.ondataavailable = (e) => { if (e.data.size) t.chunks.push(e.data); };
    rec.onstop = () => {
      stream.getTracks().forEach((tr) => tr.stop());
      clearInterval(t.timer);
      if (take.current === t) take.current = null;
      if (!alive.current) return;
      setState('idle');
      setElapsed(0);
      if (!t.keep || !t.chunks.length) return;
      const mt = (rec.mimeType || t.chunks[0].type || type || 'audio/webm').split(';')[0].trim();
      done.current(new File(t.chunks, memoName(mt, new Date(t.started)), { type: mt }));
    };
    take.current = t;
    t.timer = setInterval(() => {
      const s = (Date.now() - t.started) / 1000;
      setElapsed(Math.floor(s));
      if (s >= MAX_MEMO_SECONDS) { end(true); onError('Voice memos stop at 2 minutes: attached'); }
    }, 250);
    rec.start(1000);
    setElapsed(0);
    setState('recording');
  };

  return { state, elapsed, start, stop: () => end(true), cancel: () => end(false) };
}

/** The composer's microphone button for voice memos (tap to record, tap again to attach). */
export function MemoButton({ state, onStart, onStop }: { state: MemoState; onStart: () => void; onStop: () => void }) {
  const on = state !== 'idle';
  return (
    <button type="button" class={'icon memo' + (on ? ' on' : '')} aria-pressed={on}
      aria-label={on ? 'Stop recording and attach' : 'Record a voice memo'} title={on ? 'Stop recording' : 'Voice memo'}
      disabled={state === 'starting'} onClick={on ? onStop : onStart}>
      <Icon name="mic" />
    </button>
  );
}

/** The bar over the message box while a memo is recorded: elapsed time, Cancel and Stop. */
export function MemoBar({ elapsed, onStop, onCancel }: { elapsed: number; onStop: () => void; onCancel: () => void }) {
  return (
    <div class="memo-rec" role="group" aria-label="Recording a voice memo">
      <span class="rec-dot" aria-hidden="true" />
      <span class="rec-time" aria-label={`${fmtElapsed(elapsed)} of ${fmtElapsed(MAX_MEMO_SECONDS)}`}>{fmtElapsed(elapsed)} / {fmtElapsed(MAX_MEMO_SECONDS)}</span>
      <button type="button" class="memo-cancel" onClick={onCancel}>Cancel</button>
      <button type="button" class="memo-stop primary" aria-label="Stop and attach the voice memo" onClick={onStop}><Icon name="stop" size={18} /> Stop</button>
    </div>
  );
}
