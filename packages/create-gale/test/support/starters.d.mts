/** What proves a running starter works: its page's custom element and one WebSocket exchange. */
export interface Starter {
  readonly tag: string;
  readonly exchange: (base: URL) => Promise<void>;
}
export interface StartedServer {
  readonly url: URL;
  stop(): Promise<void>;
}
export declare function wsBase(base: URL): URL;
export declare const STARTERS: Readonly<Record<string, Starter>>;
export declare function checkPage(base: URL, tag: string): Promise<void>;
export declare function cleanEnv(extra?: Record<string, string>): NodeJS.ProcessEnv;
export declare function command(
  file: string,
  args: readonly string[],
  options?: { cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<string>;
export declare function startServer(
  cwd: string,
  template: string,
  options?: {
    script?: string;
    env?: NodeJS.ProcessEnv;
    ready?: RegExp;
    timeoutMs?: number;
  },
): Promise<StartedServer>;
