import { describe, expect, it } from 'vitest';
import { parseSuggestions } from '../src/embed/suggestions';

describe('parseSuggestions', () => {
  it('splits a suggestion block out of the reply', () => {
    const r = parseSuggestions('Here you go.\n\n```clawchat-suggestion\n{"anchor": "teh cat", "text": "the cat"}\n```\n\nAnything else?');
    expect(r.suggestions).toEqual([{ anchor: 'teh cat', text: 'the cat' }]);
    expect(r.markdown).toBe('Here you go.\n\n\n\nAnything else?');
  });
  it('keeps a malformed block as code', () => {
    const src = '```clawchat-suggestion\nnot json\n```';
    expect(parseSuggestions(src)).toEqual({ markdown: src, suggestions: [] });
    const arr = '```clawchat-suggestion\n["a"]\n```';
    expect(parseSuggestions(arr).suggestions).toEqual([]);
  });
  it('defaults a missing anchor to an insertion', () => {
    expect(parseSuggestions('```clawchat-suggestion\n{"text": "x"}\n```').suggestions).toEqual([{ anchor: '', text: 'x' }]);
  });
  it('ignores other code blocks', () => {
    const src = '```json\n{"anchor": "a", "text": "b"}\n```';
    expect(parseSuggestions(src).suggestions).toEqual([]);
  });
});
