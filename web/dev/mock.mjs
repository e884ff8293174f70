// A tiny mock of the clawchat browser API (docs/api.md) for working on the UI without the Go
// server: node dev/mock.mjs [port]  (serves ../internal/web/dist, signs you in as "alice").
// Not a second backend: no auth, no persistence, one user, scripted replies.
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { join, dirname, extname } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'internal', 'web', 'dist');
const port = Number(process.argv[2] ?? 8088);
let signedIn = process.env.MOCK_SIGNED_OUT ? false : true;
const user = { id: 'alice', name: 'Alice', role: 'owner' };
const now = () => new Date().toISOString();
let seq = 0;
const log = []; // replay log
const sockets = new Set();
const convs = [
  { id: 'default', title: 'Trip planning', agentId: 'main', kind: 'conversation', lastActivityAt: now(), running: false },
  { id: 'code', title: 'Code help', agentId: 'main', kind: 'conversation', lastActivityAt: new Date(Date.now() - 3600e3).toISOString(), running: false },
];
const gw = [{ id: 'gw:agent:main:main', title: 'Main session', kind: 'gateway', lastActivityAt: now() }];
const history = {
  default: [
    { id: 'm1', role: 'user', text: 'Plan a weekend in Lisbon', at: now(), kind: 'message' },
    { id: 'm2', role: 'assistant', text: '## Lisbon\n\n- **Day 1**: Alfama, tram 28\n- **Day 2**: Belém\n\n```python\ndef hello():\n    return "olá"  # greet\n```\n\n![map](https://tiles.example/map.png) and [docs](https://example.org)\n\n<script>alert(1)</script>', reasoning: 'User wants a short plan.', tools: [{ id: 'c1', name: 'web_search', args: '{"q":"lisbon"}', result: '10 results', error: false }], usage: { input: 120, output: 80, cost: 0.0012 }, at: now(), kind: 'message', runId: 'r0' },
    { id: 'cmp', role: 'assistant', text: '', kind: 'compaction' },
  ],
  code: [],
};

function emit(event, payload) {
  const f = { type: 'event', event, seq: ++seq, payload };
  log.push(f);
  for (const s of sockets) s.send(f);
}

function wsAccept(req, socket) {
  const key = req.headers['sec-websocket-key'];
  const acc = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acc}\r\n\r\n`);
  const conn = {
    send(obj) {
      const data = Buffer.from(JSON.stringify(obj));
      let hdr;
      if (data.length < 126) hdr = Buffer.from([0x81, data.length]);
      else if (data.length < 65536) { hdr = Buffer.alloc(4); hdr[0] = 0x81; hdr[1] = 126; hdr.writeUInt16BE(data.length, 2); }
      else { hdr = Buffer.alloc(10); hdr[0] = 0x81; hdr[1] = 127; hdr.writeBigUInt64BE(BigInt(data.length), 2); }
      socket.write(Buffer.concat([hdr, data]));
    },
  };
  sockets.add(conn);
  socket.on('close', () => sockets.delete(conn));
  socket.on('error', () => sockets.delete(conn));
  let buf = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (buf.length < 2) return;
      const op = buf[0] & 0x0f;
      let len = buf[1] & 0x7f, off = 2;
      if (len === 126) { len = buf.readUInt16BE(2); off = 4; } else if (len === 127) { len = Number(buf.readBigUInt64BE(2)); off = 10; }
      if (buf.length < off + 4 + len) return;
      const mask = buf.subarray(off, off + 4);
      const payload = Buffer.from(buf.subarray(off + 4, off + 4 + len));
      for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
      buf = buf.subarray(off + 4 + len);
      if (op === 8) { socket.end(); return; }
      if (op === 1) onFrame(conn, JSON.parse(payload.toString()));
    }
  });
  conn.send({ type: 'event', event: 'hello', payload: { epoch: 'E1', seq, user, gateway: { state: 'connected' }, limits: { maxTextBytes: 32768, maxAttachmentBytes: 2e6, maxImageBytes: 4e6 } } });
}

function onFrame(conn, f) {
  const ok = (payload) => conn.send({ type: 'res', id: f.id, ok: true, payload });
  const fail = (code, message) => conn.send({ type: 'res', id: f.id, ok: false, error: { code, message } });
  const p = f.params ?? {};
  switch (f.method) {
    case 'subscribe': {
      const same = p.epoch === 'E1';
      ok({ epoch: 'E1', seq, replayed: same ? log.filter((e) => e.seq > (p.since ?? 0)).length : 0, resync: !!p.epoch && !same });
      if (same) for (const e of log) if (e.seq > (p.since ?? 0)) conn.send(e);
      return;
    }
    case 'conversations.list': return ok({ conversations: convs, gateway: gw });
    case 'agents.list': return ok({ agents: [{ id: 'main', name: 'Main', emoji: '🦞' }, { id: 'coder', name: 'Coder' }], default: 'main' });
    case 'approvals.list': return ok({ approvals: [] });
    case 'history': return ok({ messages: history[p.conversation] ?? [], hasMore: false, running: false, runId: null });
    case 'conversations.create': {
      const c = { id: 'c' + Date.now().toString(36), title: 'New chat', agentId: p.agentId ?? 'main', kind: 'conversation', lastActivityAt: now() };
      convs.unshift(c); history[c.id] = [];
      ok(c); emit('conversation.created', c); return;
    }
    case 'conversations.update': { const c = convs.find((x) => x.id === p.id); if (!c) return fail('not_found', 'conversation not found'); Object.assign(c, p); ok(c); emit('conversation.updated', c); return; }
    case 'conversations.delete': { const i = convs.findIndex((x) => x.id === p.id); if (i >= 0) convs.splice(i, 1); ok({}); emit('conversation.deleted', { id: p.id }); return; }
    case 'send': return reply(ok, p);
    case 'abort': ok({ aborted: true }); return;
    case 'approvals.resolve': ok({}); emit('approval.resolved', { id: p.id }); return;
    case 'ping': return ok({});
    default: return fail('bad_request', 'unknown method');
  }
}

function reply(ok, p) {
  const runId = 'r' + Date.now().toString(36);
  const conversation = p.conversation;
  ok({ runId, status: 'started' });
  emit('run.started', { conversation, runId, messageId: p.id, text: p.text, at: now() });
  const words = `You said **${p.text.replace(/[*_`]/g, '')}**. Here is some code:\n\n\`\`\`js\nconst answer = 42; // the answer\n\`\`\`\n`.split(/(?<=\s)/);
  let i = 0;
  emit('run.reasoning', { conversation, runId, text: 'Thinking about it.' });
  emit('run.tool', { conversation, runId, toolCallId: 't1', name: 'ls', phase: 'start', args: '{"path":"."}' });
  const t = setInterval(() => {
    if (i === 2) emit('run.tool', { conversation, runId, toolCallId: 't1', name: 'ls', phase: 'end', result: 'a.txt b.txt', durationMs: 35 });
    if (i < words.length) { emit('run.delta', { conversation, runId, text: words[i++] }); return; }
    clearInterval(t);
    emit('run.final', { conversation, runId, text: words.join(''), usage: { input: 10, output: words.length }, stopReason: 'stop' });
  }, 60);
}

const types = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.webmanifest': 'application/manifest+json' };
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const json = (code, obj) => { res.writeHead(code, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(obj)); };
  if (url.pathname === '/api/config') return json(200, { auth: { local: true, oidc: { enabled: true, label: 'Authentik' } }, push: { vapidPublicKey: '' }, build: process.env.MOCK_BUILD });
  if (url.pathname === '/login' && req.method === 'POST') { signedIn = true; return json(200, { ok: true, user }); }
  if (url.pathname === '/logout' && req.method === 'POST') { signedIn = false; return json(200, { ok: true }); }
  if (url.pathname.startsWith('/api/')) {
    if (!signedIn) return json(401, { error: { code: 'unauthorized', message: 'sign in' } });
    if (url.pathname === '/api/me') return json(200, { user, csrf: false });
    if (url.pathname.startsWith('/api/reactions/')) return json(200, { reactions: { m2: { '👍': ['alice'] } } });
    if (url.pathname.match(/^\/api\/messages\/[^/]+\/reactions$/)) return json(200, { reactions: { '👍': ['alice'], '🎉': ['alice'] } });
    return json(404, { error: { code: 'not_found', message: 'not found' } });
  }
  let p = url.pathname === '/' ? '/index.html' : url.pathname;
  let file = join(dist, p);
  if (!existsSync(file) || p.includes('..')) { if (extname(p)) { res.writeHead(404); return res.end(); } file = join(dist, 'index.html'); }
  res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream', 'Content-Security-Policy': CSP, 'Cache-Control': 'no-cache' });
  res.end(readFileSync(file));
});
server.on('upgrade', (req, socket) => {
  if (req.url !== '/ws' || !signedIn) { socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n'); return; }
  wsAccept(req, socket);
});
server.listen(port, '127.0.0.1', () => console.log(`mock on http://127.0.0.1:${port}/`));
