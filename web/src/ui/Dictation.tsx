// Voice input: dictation with the Web Speech API where the browser has it (SpeechRecognition or
// webkitSpeechRecognition); the button is not shown anywhere else. Speech becomes text in the
// composer, which the user reads and sends; nothing is recorded or uploaded by clawchat.
import { useEffect, useRef, useState } from 'preact/hooks';
import { Icon } from './Icon';

interface Recognition {
  lang: string;
  interimResults: boolean;
  continuous: boolean;
  start(): void;
  stop(): void;
  abort(): void;
  onresult: ((e: { resultIndex: number; results: ArrayLike<{ isFinal: boolean; 0: { transcript: string } }> }) => void) | null;
  onend: (() => void) | null;
  onerror: ((e: { error?: string }) => void) | null;
}

function recognizer(): (new () => Recognition) | undefined {
  const w = window as unknown as { SpeechRecognition?: new () => Recognition; webkitSpeechRecognition?: new () => Recognition };
  return w.SpeechRecognition ?? w.webkitSpeechRecognition;
}

/** Whether this browser can dictate (feature detection; no permission is asked). */
export function canDictate(): boolean { return !!recognizer(); }

/**
 * The microphone button. While listening, onText gets the text spoken so far (final and
 * interim parts) each time it changes; a second tap, or the end of speech, stops.
 */
export function MicButton({ onStart, onText, onError }: { onStart: () => void; onText: (spoken: string) => void; onError: (msg: string) => void }) {
  const [on, setOn] = useState(false);
  const rec = useRef<Recognition | null>(null);
  useEffect(() => () => rec.current?.abort(), []);
  const toggle = () => {
    if (rec.current) { rec.current.stop(); return; }
    const R = recognizer();
    if (!R) return;
    const r = new R();
    r.lang = document.documentElement.lang || navigator.language || 'en';
    r.interimResults = true;
    r.continuous = true;
    let finals = '';
    r.onresult = (e) => {
      let interim = '';
      for (let i = e.resultIndex; i < e.results.length; i++) {
        const res = e.results[i];
        if (res.isFinal) finals += res[0].transcript; else interim += res[0].transcript;
      }
      onText((finals + interim).trim());
    };
    r.onerror = (e) => {
      if (e.error === 'no-speech' || e.error === 'aborted') return;
      onError(e.error === 'not-allowed' || e.error === 'service-not-allowed' ? 'Microphone access is blocked for this site' : 'Dictation stopped: ' + (e.error ?? 'error'));
    };
    r.onend = () => { rec.current = null; setOn(false); };
    rec.current = r;
    onStart();
    try { r.start(); setOn(true); } catch { rec.current = null; onError('Dictation could not start'); }
  };
  return (
    <button type="button" class={'icon mic' + (on ? ' on' : '')} aria-pressed={on} aria-label={on ? 'Stop dictation' : 'Dictate'} title={on ? 'Stop dictation' : 'Dictate'} onClick={toggle}>
      <Icon name="mic" />
    </button>
  );
}
