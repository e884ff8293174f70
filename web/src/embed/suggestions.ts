// Suggestions: the agent proposes an edit to the host's document with a code block whose info
// string is clawchat-suggestion, holding {"anchor": "<exact text to replace>", "text": "<new>"}
// (docs/embed.md). The frame shows each as a card with Apply/Dismiss; Apply posts it to the host
// page, which applies it to its own data — clawchat never edits host data itself. The reply's
// text is model output and hostile: a block that is not exactly that shape is left as code.

export interface Suggestion {
  anchor: string;
  text: string;
}

export interface Parsed {
  /** The reply's markdown with the suggestion blocks removed. */
  markdown: string;
  suggestions: Suggestion[];
}

const BLOCK = /^```clawchat-suggestion[ \t]*\n([\s\S]*?)\n```[ \t]*$/gm;
const MAX = 64 << 10;

/** Splits the suggestion blocks out of a reply. */
export function parseSuggestions(src: string): Parsed {
  const suggestions: Suggestion[] = [];
  const markdown = src.replace(BLOCK, (whole, body: string) => {
    try {
      const v = JSON.parse(body) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) {
        const o = v as Record<string, unknown>;
        const anchor = typeof o.anchor === 'string' ? o.anchor : '';
        if (typeof o.text === 'string' && o.text.length <= MAX && anchor.length <= MAX) {
          suggestions.push({ anchor, text: o.text });
          return '';
        }
      }
    } catch { /* not JSON: leave the block as code */ }
    return whole;
  });
  return { markdown: markdown.trim(), suggestions };
}
