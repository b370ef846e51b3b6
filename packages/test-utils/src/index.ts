export { launchChromium } from './chromium.js';
export { type ServerProcess, startServer } from './server-process.js';
