import { render } from 'preact';
import './styles.css';
import { api } from './api';
import { applyTheme, authState, config, signedIn } from './store';
import { App } from './ui/App';
import { checkBuild, registerSW, runningBuild } from './update';

applyTheme();

async function boot(): Promise<void> {
  api.config().then((c) => {
    config.value = c;
    if (c.build && runningBuild() && c.build !== runningBuild()) checkBuild();
  }).catch(() => {});
  try {
    const r = await api.me();
    signedIn(r.user);
  } catch {
    authState.value = 'signed-out';
  }
}

render(<App />, document.getElementById('app')!);
boot();
registerSW();
