#!/usr/bin/env python3
"""Tornado client driver for @gale/server's interop tests.

Runs one WebSocket session with tornado.websocket.websocket_connect() as described by a JSON
script, then prints exactly one JSON line saying what happened. The script is the first argument:
inline JSON (starts with "{"), "-" for stdin, or a file path (Linux limits one argument to
128 KiB, so large messages go through a file, stdin or "repeat").

  {
    "url": "ws://127.0.0.1:8888/echo",
    "headers": {"Origin": "http://127.0.0.1:8888"},   optional extra request headers
    "subprotocols": ["chat", "superchat"],             optional; offered in this order
    "compression": true,                               optional; offer permessage-deflate
    "max_message_size": 16777216,                      optional; largest reply accepted
    "timeout": 10,                                     optional; seconds per step
    "digest": false,                                   optional; replies as length + sha256
    "messages": [                                      sent in order, one reply read after each
      {"text": "héllo"},
      {"binary": "AAECAw=="},                          base64
      {"text": "x", "repeat": 4194304},                the payload repeated n times
      {"text": "no reply expected", "reply": false}
    ],
    "close": {"code": 1000, "reason": "bye"}           optional; both fields optional
  }

Output (one line):

  {"ok": true, "status": 101, "selected_subprotocol": "chat",
   "extensions": "permessage-deflate", "replies": [{"text": "héllo"}, {"binary": "AAECAw=="}],
   "closed_by_server": false, "close_code": 1000, "close_reason": "bye"}

"replies" holds one entry per message that expected one; with "digest": true each entry is
{"type": "text"|"binary", "length": <bytes>, "sha256": <hex>}. If the server closes the
connection first (e.g. with 1009), "closed_by_server" is true and close_code/close_reason are
the server's. close_code and close_reason are what the server put in its Close frame (null when
absent, or when the TCP connection ended without one).

A failed handshake prints {"ok": false, "status": <HTTP status or null>, "error": "..."}; a
timeout or a connection error also prints ok: false. All these exit 0; only a bad script exits
2. Needs Tornado 6.2 or later; Debian's python3-tornado is importable from /usr/bin/python3.
"""

import asyncio
import base64
import hashlib
import json
import sys

import tornado.httpclient
import tornado.websocket


def load_script(argument):
    if argument.lstrip().startswith("{"):
        return json.loads(argument)
    if argument == "-":
        return json.load(sys.stdin)
    with open(argument, encoding="utf-8") as file:
        return json.load(file)


def payload_of(message):
    """Returns (payload, is_binary) for one entry of "messages"."""
    repeat = int(message.get("repeat", 1))
    if "text" in message:
        return message["text"] * repeat, False
    if "binary" in message:
        return base64.b64decode(message["binary"]) * repeat, True
    raise ValueError('each message needs "text" or "binary"')


def describe(reply, digest):
    data = reply.encode("utf-8") if isinstance(reply, str) else reply
    kind = "text" if isinstance(reply, str) else "binary"
    if digest:
        return {"type": kind, "length": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    if kind == "text":
        return {"text": reply}
    return {"binary": base64.b64encode(data).decode("ascii")}


async def run(script):
    timeout = float(script.get("timeout", 10))
    digest = bool(script.get("digest", False))
    request = tornado.httpclient.HTTPRequest(
        script["url"],
        headers=script.get("headers") or {},
        connect_timeout=timeout,
        request_timeout=timeout,
    )
    result = {"ok": False, "status": None}
    try:
        conn = await asyncio.wait_for(
            tornado.websocket.websocket_connect(
                request,
                compression_options={} if script.get("compression") else None,
                max_message_size=int(script.get("max_message_size", 16 * 1024 * 1024)),
                # websocket_connect sends an empty Sec-WebSocket-Protocol for [], so omit it.
                subprotocols=script.get("subprotocols") or None,
            ),
            timeout,
        )
    except tornado.httpclient.HTTPClientError as error:
        result.update(status=error.code, error=str(error))
        return result
    except asyncio.TimeoutError:
        result.update(error="timeout during the opening handshake")
        return result
    except Exception as error:  # connection refused, reset, non-WebSocket response
        result.update(error=f"{type(error).__name__}: {error}")
        return result

    result.update(
        ok=True,
        status=101,
        # Read now: the property goes through conn.protocol, which close() sets to None.
        selected_subprotocol=conn.selected_subprotocol,
        extensions=conn.headers.get("Sec-WebSocket-Extensions"),
        replies=[],
        closed_by_server=False,
    )
    try:
        for message in script.get("messages", []):
            payload, is_binary = payload_of(message)
            try:
                await conn.write_message(payload, binary=is_binary)
            except tornado.websocket.WebSocketClosedError:
                result["closed_by_server"] = True
                break
            if not message.get("reply", True):
                continue
            reply = await asyncio.wait_for(conn.read_message(), timeout)
            if reply is None:
                result["closed_by_server"] = True
                break
            result["replies"].append(describe(reply, digest))

        if not result["closed_by_server"]:
            close = script.get("close") or {}
            conn.close(close.get("code"), close.get("reason"))
            # read_message() returns None once Tornado has seen the server's Close frame (or the
            # end of the TCP connection) and set close_code/close_reason from it. Messages the
            # server sent before its Close frame are reported as unexpected.
            while True:
                reply = await asyncio.wait_for(conn.read_message(), timeout)
                if reply is None:
                    break
                result.setdefault("unexpected_replies", []).append(describe(reply, digest))
    except asyncio.TimeoutError:
        result.update(ok=False, error="timeout waiting for the server")
        conn.close()
    result.update(close_code=conn.close_code, close_reason=conn.close_reason)
    return result


def main():
    if len(sys.argv) != 2:
        print("usage: tornado_client.py <script.json | '{...}' | ->", file=sys.stderr)
        sys.exit(2)
    try:
        script = load_script(sys.argv[1])
        for message in script.get("messages", []):
            payload_of(message)
        script["url"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"tornado_client.py: bad script: {error}", file=sys.stderr)
        sys.exit(2)
    result = asyncio.run(run(script))
    print(json.dumps(result, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
