import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { encodeHello, parseServerMessage, RESUME_SUBPROTOCOL } from '@gale/frame/resume';
import { startRedis } from '@gale/test-utils';
import WebSocket from 'ws';
import { RedisBroker } from '@gale/redis';
const redis = await startRedis();
const child = spawn(process.execPath, ['peers/resume-instance.mjs', '0'], { env: { ...process.env, REDIS_URL: process.env.MEM ? '' : redis.url }, stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((r) => createInterface({ input: child.stdout }).on('line', (l) => { const m = /LISTENING (\d+)/.exec(l); if (m) r(Number(m[1])); }));
const pub = new RedisBroker({ url: redis.url, logger: { info() {}, warn() {}, error() {}, debug() {} } }); await pub.ready;
const base = `ws://127.0.0.1:${port}`;
const admin = new WebSocket(`${base}/admin`); await new Promise((r) => admin.once('open', r));
const ask = (c) => new Promise((r) => { admin.once('message', (d) => r(String(d))); admin.send(c); });
const topics = Array.from({ length: 10 }, (_, i) => `my-${i}`);
async function sock(points) {
  const ws = new WebSocket(`${base}/t/${topics.join(',')}`, [RESUME_SUBPROTOCOL]);
  const pos = new Map(points.map(([t, e, o]) => [t, { epoch: e, offset: o }])); let n = 0; let w = null;
  ws.on('message', (d, b) => { const m = parseServerMessage(b ? new Uint8Array(d) : String(d)); if (m.kind === 'topic') { n++; pos.set(m.topic, m.position); } else if (m.kind === 'control') { const c = m.control; pos.set(c.topic, c.type === 'position' ? c : c.to); } w?.(); });
  await new Promise((r) => ws.once('open', r)); ws.send(encodeHello(points));
  return { pos, until: (f) => new Promise((r) => { w = () => f(n, pos) && r(); w(); }), close: () => new Promise((r) => { ws.once('close', r); ws.close(); }) };
}
let s = await sock([]); await s.until((n, p) => p.size === 10); let points = [...s.pos].map(([t, p]) => [t, p.epoch, p.offset]); await s.close();
const samples = [];
for (let i = 0; i < 200; i++) {
  for (const t of topics) for (let k = 0; k < 10; k++) await pub.publish(t, `m${k}`);
  const a = Number(await ask('cpu'));
  s = await sock(points); await s.until((n) => n === 100);
  const c = Number(await ask('cpu')); samples.push(c - a);
  points = [...s.pos].map(([t, p]) => [t, p.epoch, p.offset]); await s.close();
}
samples.sort((x, y) => x - y); console.log('median µs', samples[100], 'p10', samples[20]);
child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)); admin.close(); await pub.close(); await redis.stop();
