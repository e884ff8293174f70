import { useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { config, signedIn } from '../store';

/** The sign-in URL from /api/config, only if it is same-origin (a path); the default otherwise. */
export function oidcURL(u?: string): string {
  return u && u.startsWith('/') && !u.startsWith('//') && !u.startsWith('/\\') ? u : '/auth/oidc/login';
}

/** Messages for the server's `/?auth_error=<code>` redirects after a failed single sign-on. */
export const AUTH_ERRORS: Record<string, string> = {
  not_allowed: 'This account is not allowed to use clawchat. Ask the owner to add you.',
  oidc_failed: 'Single sign-on failed. Please try again.',
  oidc_state: 'The sign-in link expired or was already used. Please sign in again.',
  oidc_denied: 'Single sign-on was cancelled or refused.',
};

/** The message for the `auth_error` query parameter of search, or '' (unknown codes included). */
export function authErrorMessage(search: string): string {
  const code = new URLSearchParams(search).get('auth_error') ?? '';
  return Object.hasOwn(AUTH_ERRORS, code) ? AUTH_ERRORS[code] : '';
}

/** The auth error shown once: read from the URL, which is then cleaned so a reload drops it. */
function takeAuthError(): string {
  const msg = authErrorMessage(location.search);
  if (new URLSearchParams(location.search).has('auth_error')) {
    const u = new URL(location.href);
    u.searchParams.delete('auth_error');
    history.replaceState(history.state, '', u.pathname + u.search + u.hash);
  }
  return msg;
}

export function Login() {
  const [user, setUser] = useState('');
  const [pass, setPass] = useState('');
  const [err, setErr] = useState(takeAuthError);
  const [busy, setBusy] = useState(false);
  const cfg = config.value;
  const local = cfg?.auth?.local !== false;
  const oidc = cfg?.auth?.oidc?.enabled;

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true); setErr('');
    try {
      const r = await api.login(user.trim(), pass);
      setPass('');
      signedIn(r.user);
    } catch (x) {
      const ae = x as ApiError;
      if (ae.status === 429) setErr(`Too many attempts. Try again${ae.retryAfter ? ` in ${ae.retryAfter} s` : ' later'}.`);
      else if (ae.status === 401) setErr('Wrong username or password.');
      else setErr(ae.message || 'Sign-in failed.');
    } finally { setBusy(false); }
  };

  return (
    <main class="login">
      <div class="login-card">
        <img src="/icon.svg" alt="" width={56} height={56} />
        <h1>clawchat</h1>
        {local && (
          <form onSubmit={submit}>
            <label for="u">Username</label>
            <input id="u" name="username" autocomplete="username" autocapitalize="none" spellcheck={false} required value={user} onInput={(e) => setUser((e.target as HTMLInputElement).value)} />
            <label for="p">Password</label>
            <input id="p" name="password" type="password" autocomplete="current-password" required value={pass} onInput={(e) => setPass((e.target as HTMLInputElement).value)} />
            {err && <p class="error" role="alert">{err}</p>}
            <button class="primary" type="submit" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
          </form>
        )}
        {!local && err && <p class="error" role="alert">{err}</p>}
        {oidc && (<>
          {local && <div class="or">or</div>}
          <a class="button oidc" href={oidcURL(cfg?.auth?.oidc?.url)}>Sign in with {cfg?.auth?.oidc?.label || 'single sign-on'}</a>
        </>)}
      </div>
    </main>
  );
}
