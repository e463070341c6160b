import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig, type Plugin } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

// the parent apps' embed snippet is served beside the chat: /chat/chatbox-embed.js
function embedSnippet(): Plugin {
  return {
    name: 'chatbox-embed-snippet',
    generateBundle() {
      const source = readFileSync(`${here}embed/chatbox-embed.js`, 'utf8');
      this.emitFile({ type: 'asset', fileName: 'chatbox-embed.js', source });
    },
  };
}

// Two apps, two builds (`--mode chat` and `--mode admin`): each lands in client/dist/<app> with
// relative asset paths, so the server mounts it at /chat/ or /admin/ (or behind any proxy prefix).
// `vite --config client/vite.config.mts --mode chat` serves it in dev against a server on :3000.
export default defineConfig(({ mode }) => {
  const app = mode === 'admin' ? 'admin' : 'chat';
  return {
    root: `${here}${app}`,
    base: './',
    plugins: [preact(), ...(app === 'chat' ? [embedSnippet()] : [])],
    build: {
      outDir: `${here}dist/${app}`,
      emptyOutDir: true,
      target: 'es2020',
      // one JS file per app: fewer round trips inside a phone webview
      chunkSizeWarningLimit: 1024,
    },
    server: {
      fs: { allow: [here] },
      proxy: {
        '/chat/ws': { target: 'ws://127.0.0.1:3000', ws: true },
        '/chat/': 'http://127.0.0.1:3000',
      },
    },
  };
});
