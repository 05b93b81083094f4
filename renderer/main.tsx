/**
 * Entry of the renderer: picks the host the page runs in (the Electron
 * preload's bridge, else the web UI's WebSocket), applies the chosen theme
 * and mounts the app.
 */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app/app.js';
import { RecipientsContext } from './components/recipients-context.js';
import { I18nProvider } from './i18n/i18n.js';
import { createElectronHost } from './transport/electron-host.js';
import { createWsHost } from './transport/ws-host.js';
import { applyTheme, loadTheme } from './app/theme.js';
import './styles.css';

const host = window.pigeon && window.pigeonDesktop ? createElectronHost(window.pigeon, window.pigeonDesktop) : createWsHost(window.location);

applyTheme(loadTheme());

// Files dropped outside a drop zone must not make the page navigate to them.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => e.preventDefault());

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <I18nProvider>
      <RecipientsContext.Provider value={(id) => host.api.multiSend({ id })}>
        <App host={host} />
      </RecipientsContext.Provider>
    </I18nProvider>
  </StrictMode>,
);
