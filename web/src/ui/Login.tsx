import { useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { config, signedIn } from '../store';

/** The sign-in URL from /api/config, only if it is same-origin (a path); the default otherwise. */
export function oidcURL(u?: string): string {
  return u && u.startsWith('/') && !u.startsWith('//') && !u.startsWith('/\\') ? u : '/auth/oidc/login';
}

export function Login() {
  const [user, setUser] = useState('');
  const [pass, setPass] = useState('');
  const [err, setErr] = useState('');
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
        {oidc && (<>
          {local && <div class="or">or</div>}
          <a class="button oidc" href={oidcURL(cfg?.auth?.oidc?.url)}>Sign in with {cfg?.auth?.oidc?.label || 'single sign-on'}</a>
        </>)}
      </div>
    </main>
  );
}
