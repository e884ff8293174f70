// The OpenID provider that internal/oidctest runs for clawchat's end-to-end tests: npm
// oidc-provider (OpenID Certified) with one static account table, confidential clients,
// PKCE required, the built-in development login and consent pages (any password) and
// RP-initiated logout. Its configuration is the JSON file named by argv[2] (written by the Go
// side). It listens on 127.0.0.1 on a free port and prints "READY <port>" on stdout.
//
// Accounts may carry a "tamper" object that makes the provider misbehave on purpose when it
// issues that account's ID token (the token is re-signed with the provider's own key, so the
// named defect is the only one): audience, issuer, expiredBy (seconds), replayNonce (the nonce
// of this account's previous ID token instead of the current one).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { generateKeyPairSync, sign as rsaSign, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const { default: Provider } = await import(
  pathToFileURL(join(cfg.moduleDir, 'oidc-provider', 'lib', 'index.js')).href);

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'oidctest-1', alg: 'RS256', use: 'sig' };

const accounts = new Map(cfg.accounts.map((a) => [a.sub, a]));

const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: cfg.clients.map((c) => ({
    client_id: c.id,
    client_secret: c.secret,
    redirect_uris: c.redirectURIs,
    post_logout_redirect_uris: c.postLogoutRedirectURIs || [],
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code'],
    response_types: ['code'],
  })),
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
    groups: ['groups'],
  },
  // Put the granted scopes' claims into the ID token of the code flow too: clawchat reads its
  // claims from the ID token only.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  ttl: {
    IdToken: cfg.idTokenTTL,
    AccessToken: 600,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
  async findAccount(_ctx, sub) {
    const a = accounts.get(sub);
    if (!a) return undefined;
    return {
      accountId: sub,
      async claims() {
        const c = { sub };
        if (a.email) { c.email = a.email; c.email_verified = !!a.emailVerified; }
        if (a.username) c.preferred_username = a.username;
        if (a.name) c.name = a.name;
        if (a.groups) c.groups = a.groups;
        return c;
      },
    };
  },
});
// The built-in pages import a web font from the internet: strip it, and forbid every other
// sub-resource, so a browser under test never leaves loopback.
provider.use(async (ctx, next) => {
  await next();
  if (typeof ctx.body === 'string' && ctx.response.is('html')) {
    ctx.body = ctx.body.replace(/@import url\(https?:[^)]*\);?/g, '');
    if (!ctx.response.get('content-security-policy')) {
      ctx.set('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'");
    }
  }
});
provider.on('server_error', (_ctx, err) => console.error('oidctest: server_error', err));

// Deliberate misbehaviour, per account (see the header).
const lastNonce = new Map();
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const issue = provider.IdToken.prototype.issue;
provider.IdToken.prototype.issue = async function issueMaybeTampered(opts) {
  const jwt = await issue.call(this, opts);
  if (opts?.use !== 'idtoken') return jwt;
  const [h, p] = jwt.split('.', 2).map((s) => JSON.parse(Buffer.from(s, 'base64url').toString()));
  const prev = lastNonce.get(p.sub);
  if (p.nonce) lastNonce.set(p.sub, p.nonce);
  const t = accounts.get(p.sub)?.tamper;
  if (!t) return jwt;
  if (t.audience) p.aud = t.audience;
  if (t.issuer) p.iss = t.issuer;
  if (t.expiredBy) {
    p.exp = Math.floor(Date.now() / 1000) - t.expiredBy;
    p.iat = p.exp - 60;
  }
  if (t.replayNonce && prev) p.nonce = prev;
  if (h.alg !== 'RS256') throw new Error(`oidctest: cannot tamper with a ${h.alg} token`);
  const input = `${b64(h)}.${b64(p)}`;
  return `${input}.${rsaSign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
};

server.on('request', provider.callback());
process.stdout.write(`READY ${port}\n`);
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
