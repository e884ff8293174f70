// Builds the web app into ../internal/web/dist (committed, so Go builds need no Node).
//   node build.mjs            production build
// Output: index.html, app-<hash>.js, app-<hash>.css, sw.js, manifest.webmanifest, icons,
// build.json ({"build": id}) and .gz siblings of compressible files.
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync, gzipSync, constants as zc } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'internal', 'web', 'dist');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const app = await esbuild.build({
  entryPoints: { app: join(here, 'src', 'main.tsx') },
  bundle: true, minify: !process.env.NOMINIFY, format: 'esm', target: ['es2022', 'safari16'],
  jsx: 'automatic', jsxImportSource: 'preact',
  entryNames: '[name]-[hash]', assetNames: '[name]-[hash]',
  outdir: out, metafile: true, legalComments: 'none', write: true,
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'warning',
});
const outputs = Object.keys(app.metafile.outputs).map((p) => basename(p));
const js = outputs.find((f) => /^app-.*\.js$/.test(f));
const css = outputs.find((f) => /^app-.*\.css$/.test(f));
if (!js || !css) throw new Error('build: missing js or css output: ' + outputs.join(', '));

// ---- the embedded frame (/embed) and the host pages' loader (clawchat-embed.js); docs/embed.md ----
// A separate entry, so the main app's load size does not grow.
const embedBuild = await esbuild.build({
  entryPoints: { embed: join(here, 'src', 'embed', 'frame.tsx') },
  bundle: true, minify: true, format: 'esm', target: ['es2022', 'safari16'],
  jsx: 'automatic', jsxImportSource: 'preact',
  entryNames: '[name]-[hash]', assetNames: '[name]-[hash]',
  outdir: out, metafile: true, legalComments: 'none', write: true,
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'warning', inject: [],
});
const embedOut = Object.keys(embedBuild.metafile.outputs).map((p) => basename(p));
const embedJS = embedOut.find((f) => /^embed-.*\.js$/.test(f));
const embedCSS = embedOut.find((f) => /^embed-.*\.css$/.test(f));
if (!embedJS || !embedCSS) throw new Error('build: missing embed js or css output: ' + embedOut.join(', '));
await esbuild.build({
  entryPoints: [join(here, 'src', 'embed', 'loader.ts')], bundle: true, minify: true, format: 'iife', target: 'es2020',
  outfile: join(out, 'clawchat-embed.js'), legalComments: 'none', logLevel: 'warning',
});
writeFileSync(join(out, 'embed.html'), `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<title>clawchat</title>
<link rel="stylesheet" href="/${embedCSS}">
<script type="module" src="/${embedJS}"></script>
</head>
<body>
<div id="app"></div>
<noscript>clawchat needs JavaScript.</noscript>
</body>
</html>
`);

// ---- icons ----
function crc32(buf) {
  let c, crc = 0xffffffff;
  for (let n = 0; n < buf.length; n++) {
    c = (crc ^ buf[n]) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
function png(size, pixel) {
  const raw = Buffer.alloc((size * 4 + 1) * size);
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const [r, g, b, a] = pixel(x + 0.5, y + 0.5, size);
      const o = y * (size * 4 + 1) + 1 + x * 4;
      raw[o] = r; raw[o + 1] = g; raw[o + 2] = b; raw[o + 3] = a;
    }
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0); ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; ihdr[9] = 6; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}
const BLUE = [31, 95, 209], WHITE = [255, 255, 255];
// A speech bubble with three "claw" dots on a blue field. inset: safe-zone scale (maskable).
function iconPixel(inset, rounded) {
  return (x, y, s) => {
    const u = x / s, v = y / s;
    if (rounded) { // rounded-square background with transparent corners
      const r = 0.2, dx = Math.max(r - u, u - (1 - r), 0), dy = Math.max(r - v, v - (1 - r), 0);
      if (dx * dx + dy * dy > r * r) return [0, 0, 0, 0];
    }
    const cx = (u - 0.5) / inset + 0.5, cy = (v - 0.5) / inset + 0.5;
    const inBubble = ((cx - 0.5) / 0.34) ** 2 + ((cy - 0.47) / 0.27) ** 2 <= 1;
    const inTail = cy > 0.62 && cy < 0.82 && cx > 0.3 && cx < 0.46 && (cx - 0.3) > (cy - 0.62) * 0.8;
    const dot = [0.36, 0.5, 0.64].some((dx) => (cx - dx) ** 2 + (cy - 0.47) ** 2 < 0.045 ** 2);
    if ((inBubble || inTail) && !dot) return [...WHITE, 255];
    return [...BLUE, 255];
  };
}
writeFileSync(join(out, 'icon-192.png'), png(192, iconPixel(1, true)));
writeFileSync(join(out, 'icon-512.png'), png(512, iconPixel(1, true)));
writeFileSync(join(out, 'icon-maskable-512.png'), png(512, iconPixel(0.72, false)));
writeFileSync(join(out, 'apple-touch-icon.png'), png(180, iconPixel(0.85, false)));
writeFileSync(join(out, 'icon.svg'), `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="13" fill="#1f5fd1"/><path d="M32 13c-12 0-22 7.6-22 17 0 5.3 3.1 10 8 13.1L16 53l11.2-5.8c1.5.3 3.1.5 4.8.5 12 0 22-7.6 22-17.1S44 13 32 13z" fill="#fff"/><circle cx="23" cy="30" r="3" fill="#1f5fd1"/><circle cx="32" cy="30" r="3" fill="#1f5fd1"/><circle cx="41" cy="30" r="3" fill="#1f5fd1"/></svg>\n`);

// ---- build id: hash of everything the shell serves ----
const h = createHash('sha256');
for (const f of [js, css, 'icon.svg']) h.update(readFileSync(join(out, f)));
h.update(readFileSync(join(here, 'src', 'sw.ts')));
const build = h.digest('hex').slice(0, 16);

const manifest = {
  name: 'clawchat', short_name: 'clawchat', description: 'Chat with your OpenClaw assistant',
  id: '/', start_url: '/', scope: '/', display: 'standalone', orientation: 'any',
  background_color: '#15171b', theme_color: '#1f5fd1',
  icons: [
    { src: '/icon-192.png', sizes: '192x192', type: 'image/png' },
    { src: '/icon-512.png', sizes: '512x512', type: 'image/png' },
    { src: '/icon-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
    { src: '/icon.svg', sizes: 'any', type: 'image/svg+xml' },
  ],
};
writeFileSync(join(out, 'manifest.webmanifest'), JSON.stringify(manifest, null, 2) + '\n');

writeFileSync(join(out, 'index.html'), `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover, interactive-widget=resizes-content">
<meta name="clawchat-build" content="${build}">
<meta name="theme-color" content="#1f5fd1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<meta name="apple-mobile-web-app-capable" content="yes">
<meta name="mobile-web-app-capable" content="yes">
<meta name="apple-mobile-web-app-title" content="clawchat">
<title>clawchat</title>
<link rel="icon" href="/icon.svg" type="image/svg+xml">
<link rel="apple-touch-icon" href="/apple-touch-icon.png">
<link rel="manifest" href="/manifest.webmanifest">
<link rel="stylesheet" href="/${css}">
<script type="module" src="/${js}"></script>
</head>
<body>
<div id="app"></div>
<noscript>clawchat needs JavaScript.</noscript>
</body>
</html>
`);

const shell = [`/${js}`, `/${css}`, '/icon.svg', '/icon-192.png', '/manifest.webmanifest'];
await esbuild.build({
  entryPoints: [join(here, 'src', 'sw.ts')], bundle: true, minify: true, format: 'iife', target: 'es2022',
  outfile: join(out, 'sw.js'), legalComments: 'none', logLevel: 'warning',
  define: { __BUILD__: JSON.stringify(build), __ASSETS__: JSON.stringify(shell) },
});

writeFileSync(join(out, 'build.json'), JSON.stringify({ build, js, css }) + '\n');

// ---- precompressed siblings and the size report ----
let total = 0;
for (const f of readdirSync(out)) {
  if (!/\.(js|css|html|svg|webmanifest|json)$/.test(f)) continue;
  const gz = gzipSync(readFileSync(join(out, f)), { level: zc.Z_BEST_COMPRESSION, mtime: 0 });
  writeFileSync(join(out, f + '.gz'), gz);
  if (f === js || f === css || f === 'index.html') total += gz.length;
}
console.log(`built ${build}: ${js}, ${css}; initial load (html+js+css, gzip) = ${total} bytes`);
{
  const gz = (f) => readFileSync(join(out, f + '.gz')).length;
  console.log(`embed: ${embedJS}, ${embedCSS}; frame (html+js+css, gzip) = ${gz('embed.html') + gz(embedJS) + gz(embedCSS)} bytes; clawchat-embed.js = ${gz('clawchat-embed.js')} bytes gzip`);
}
