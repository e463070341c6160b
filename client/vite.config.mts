import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

// Two apps, two builds (`--mode chat` and `--mode admin`): each lands in client/dist/<app> with
// relative asset paths, so the server mounts it at /chat/ or /admin/ (or behind any proxy prefix).
// `vite --config client/vite.config.mts --mode chat` serves it in dev against a server on :3000.
// `--mode embed` (after `--mode chat`, whose build empties dist/chat): the parent apps' SDK beside
// the chat page, as an ES module (/chat/chatbox-embed.mjs) and a script-tag file with the global
// ChatboxEmbed (/chat/chatbox-embed.js).
export default defineConfig(({ mode }) => {
  if (mode === 'embed')
    return {
      build: {
        outDir: `${here}dist/chat`,
        emptyOutDir: false,
        target: 'es2019',
        lib: {
          entry: `${here}embed/src/chatbox-embed.ts`,
          name: 'ChatboxEmbed',
          formats: ['es', 'iife'],
          fileName: (format) => (format === 'es' ? 'chatbox-embed.mjs' : 'chatbox-embed.js'),
        },
      },
    };
  const app = mode === 'admin' ? 'admin' : 'chat';
  return {
    root: `${here}${app}`,
    base: './',
    plugins: [preact()],
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
