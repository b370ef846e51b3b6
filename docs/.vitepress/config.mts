import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitepress';

// Written by `typedoc` (typedoc-vitepress-theme) before the site is built.
const apiSidebar = JSON.parse(
  readFileSync(new URL('../api/typedoc-sidebar.json', import.meta.url), 'utf8'),
);

export default defineConfig({
  title: 'Gale',
  description: "Tornado's WebSocket API for TypeScript: server, client, topics and scale-out.",
  cleanUrls: false,
  srcExclude: ['test/**', 'scripts/**', 'README.md'],
  lastUpdated: false,
  // The local search index and the API sidebar make one large chunk; that is expected here.
  vite: { build: { chunkSizeWarningLimit: 2000 } },
  themeConfig: {
    nav: [
      { text: 'Guide', link: '/guide/getting-started' },
      { text: 'Coming from Tornado', link: '/guide/coming-from-tornado' },
      { text: 'Benchmarks', link: '/benchmarks' },
      { text: 'API', link: '/api/' },
    ],
    sidebar: {
      '/api/': [{ text: 'API reference', link: '/api/', items: apiSidebar }],
      '/': [
        {
          text: 'Guide',
          items: [
            { text: 'Getting started', link: '/guide/getting-started' },
            { text: 'The handler lifecycle', link: '/guide/handler-lifecycle' },
            { text: 'The client and reconnection', link: '/guide/client' },
            { text: 'Topics and scale-out', link: '/guide/topics' },
            { text: 'Security', link: '/guide/security' },
            { text: 'Behind a proxy', link: '/guide/deployment' },
            { text: 'Coming from Tornado', link: '/guide/coming-from-tornado' },
          ],
        },
        {
          text: 'Reference',
          items: [
            { text: 'Benchmarks', link: '/benchmarks' },
            { text: 'Architecture', link: '/architecture' },
            { text: 'The resume protocol (gale.v1)', link: '/resume-protocol' },
            { text: 'API reference', link: '/api/' },
          ],
        },
      ],
    },
    search: { provider: 'local' },
  },
});
