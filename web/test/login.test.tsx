import { afterEach, describe, expect, it, vi } from 'vitest';
import { render } from 'preact';
import { act } from 'preact/test-utils';
import { signal } from '@preact/signals';

const config = signal<any>({ auth: { local: true, oidc: { enabled: true, label: 'Example' } } });
vi.mock('../src/store', () => ({ config, signedIn: vi.fn() }));
vi.mock('../src/api', () => ({ api: { login: vi.fn() }, ApiError: class extends Error {} }));

const { Login, authErrorMessage, AUTH_ERRORS } = await import('../src/ui/Login');

function mount(url: string) {
  history.replaceState(null, '', url);
  const root = document.createElement('div');
  document.body.appendChild(root);
  act(() => render(<Login />, root));
  return root;
}

afterEach(() => { document.body.innerHTML = ''; history.replaceState(null, '', '/'); });

describe('sign-in auth errors', () => {
  it.each(['not_allowed', 'oidc_failed', 'oidc_state', 'oidc_denied'])('shows a message for %s and cleans the URL', (code) => {
    const root = mount(`/?auth_error=${code}#/c/x`);
    const alert = root.querySelector('[role=alert]');
    expect(alert?.textContent).toBe(AUTH_ERRORS[code]);
    expect(alert?.textContent).not.toBe('');
    expect(location.search).toBe('');
    expect(location.hash).toBe('#/c/x');
  });

  it('gives each code its own message', () => {
    const msgs = Object.values(AUTH_ERRORS);
    expect(new Set(msgs).size).toBe(4);
  });

  it('ignores unknown codes and prototype names', () => {
    for (const c of ['', 'nope', 'toString', '__proto__', 'constructor']) expect(authErrorMessage('?auth_error=' + c)).toBe('');
    expect(authErrorMessage('')).toBe('');
    const root = mount('/?auth_error=%3Cimg%20src%3Dx%3E');
    expect(root.querySelector('[role=alert]')).toBeNull();
  });

  it('shows the message when only single sign-on is enabled', () => {
    config.value = { auth: { local: false, oidc: { enabled: true } } };
    const root = mount('/?auth_error=not_allowed');
    expect(root.querySelector('[role=alert]')?.textContent).toBe(AUTH_ERRORS.not_allowed);
    expect(root.querySelector('form')).toBeNull();
  });

  it('shows nothing without an error', () => {
    const root = mount('/');
    expect(root.querySelector('[role=alert]')).toBeNull();
  });
});
