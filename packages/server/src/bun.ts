// @gale/server/bun: the same Application on Bun's native WebSocket server. Loaded by Bun only;
// the main entry never imports it.
export type { BunServer } from './bun/bun-api.js';
export { type ServeOptions, serve } from './bun/serve.js';
