// The compression page: `npm run web` serves it on 127.0.0.1 (a secure
// context, so navigator.gpu is exposed); `npm run build:web` writes static
// files to web/dist. The page imports the core from ../src directly.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { rejectNodeImports } from './build/rejectNodeImports.js';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: './',
  envDir: false,
  plugins: [rejectNodeImports()],
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', reportCompressedSize: false, chunkSizeWarningLimit: 2048 },
  server: { host: '127.0.0.1', port: 5173, fs: { allow: [fileURLToPath(new URL('..', import.meta.url))] } },
  preview: { host: '127.0.0.1', port: 4173 },
});
