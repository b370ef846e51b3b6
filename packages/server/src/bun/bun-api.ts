// The part of Bun's API the adapter uses, typed here so that @gale/server needs no Bun types to
// build (the Node build never loads this entry). Names and semantics follow Bun's `bun-types`.

/** What `ServerWebSocket.send` and its kin return: bytes sent, -1 queued (backpressure), 0 dropped. */
export type BunSendStatus = number;

/** Bun's `ServerWebSocket<T>`: one native WebSocket of `Bun.serve`. */
export interface BunServerWebSocket<T> {
  readonly data: T;
  readonly readyState: number;
  readonly remoteAddress: string;
  sendText(data: string, compress?: boolean): BunSendStatus;
  sendBinary(data: Uint8Array, compress?: boolean): BunSendStatus;
  publish(topic: string, data: string | Uint8Array, compress?: boolean): BunSendStatus;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  ping(data?: Uint8Array): BunSendStatus;
  close(code?: number, reason?: string): void;
  terminate(): void;
  getBufferedAmount(): number;
}

/** Bun's `Server`, as `Bun.serve` returns it. */
export interface BunServer {
  readonly port: number;
  readonly hostname: string;
  readonly url: URL;
  upgrade<T>(request: Request, options: { readonly data: T; readonly headers?: Headers }): boolean;
  publish(topic: string, data: string | Uint8Array, compress?: boolean): BunSendStatus;
  requestIP(request: Request): { readonly address: string; readonly port: number } | null;
  stop(closeActiveConnections?: boolean): Promise<void>;
}

/** The options of `Bun.serve` the adapter sets. */
export interface BunServeOptions<T> {
  readonly port?: number | undefined;
  readonly hostname?: string | undefined;
  fetch(request: Request, server: BunServer): Response | undefined | Promise<Response | undefined>;
  readonly websocket: {
    readonly maxPayloadLength: number;
    readonly idleTimeout: number;
    readonly sendPings: boolean;
    readonly backpressureLimit: number;
    readonly closeOnBackpressureLimit: boolean;
    readonly publishToSelf: boolean;
    readonly perMessageDeflate: boolean;
    open(ws: BunServerWebSocket<T>): void;
    message(ws: BunServerWebSocket<T>, message: string | Uint8Array): void;
    close(ws: BunServerWebSocket<T>, code: number, reason: string): void;
    drain(ws: BunServerWebSocket<T>): void;
    ping(ws: BunServerWebSocket<T>, data: Uint8Array): void;
    pong(ws: BunServerWebSocket<T>, data: Uint8Array): void;
  };
}

/** The `Bun` global, found at run time. */
export interface BunGlobal {
  serve<T>(options: BunServeOptions<T>): BunServer;
}
