import { gale } from '@gale/server/vite';
import { defineConfig } from 'vite';

// `pnpm dev`: Vite serves the page with hot reload, and the gale plugin runs server.ts in the same
// process, on the same port: one URL for both.
export default defineConfig({
  plugins: [gale({ entry: './server.ts' })],
  server: {
    host: process.env['HOST'] ?? '127.0.0.1',
    port: Number(process.env['PORT'] ?? 8890),
    strictPort: true,
  },
  build: { outDir: 'dist/client', emptyOutDir: true },
});
