#!/usr/bin/env python3
"""Tornado reference server for Gale's benchmarks and interop tests.

Routes (the same as benchmarks/peers/ws-echo.mjs and the gale echo app):

  /echo       echoes every message exactly (text as text, binary as binary); accepts
              permessage-deflate when the client offers it.
  /websocket  replies "You said: <message>" (Tornado's documentation example).
  /fanout     every connection is a subscriber; the text message "publish:<n>[:<size>]" makes
              the server send n binary messages of <size> bytes (default --fanout-size) to every
              other connection.

Listens on 127.0.0.1 only and prints exactly one line, "LISTENING <port>", to stdout once it
accepts connections, so that a Node test or benchmark can spawn it and read the port:

  /usr/bin/python3 packages/test-utils/peers/tornado_echo.py 0
  /usr/bin/python3 packages/test-utils/peers/tornado_echo.py 0 --subprotocols chat,superchat
  /usr/bin/python3 packages/test-utils/peers/tornado_echo.py 0 --reject-origin  # 403 to every Origin

Node code finds it as import.meta.resolve('@gale/test-utils/peers/tornado_echo.py').

Options can also come from the environment: TORNADO_ECHO_SUBPROTOCOLS (comma-separated),
TORNADO_ECHO_ORIGIN_HOSTS (comma-separated), TORNADO_ECHO_REJECT_ORIGIN=1.

SIGUSR2 runs gc.collect(), so that the idle-memory benchmark can ask for a collection before it
reads VmRSS; SIGTERM and SIGINT stop the server.

Needs Tornado 6.2 or later (Debian bookworm: apt-get install python3-tornado; that package is
only importable from Debian's /usr/bin/python3, not from a pyenv or venv interpreter).
"""

import argparse
import asyncio
import gc
import os
import signal
import sys
from urllib.parse import urlparse

import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket

MiB = 1024 * 1024


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("port", nargs="?", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--subprotocols",
        default=os.environ.get("TORNADO_ECHO_SUBPROTOCOLS", ""),
        help="comma-separated subprotocols accepted, in no particular order; "
        "the first one the client offers that is in this list is selected",
    )
    parser.add_argument(
        "--origin-hosts",
        default=os.environ.get("TORNADO_ECHO_ORIGIN_HOSTS", "127.0.0.1,localhost"),
        help="comma-separated host names whose Origin is accepted (any port), besides "
        "Tornado's default same-host rule",
    )
    parser.add_argument(
        "--reject-origin",
        action="store_true",
        default=os.environ.get("TORNADO_ECHO_REJECT_ORIGIN") == "1",
        help="reject every request that has an Origin header (403)",
    )
    parser.add_argument("--max-message-size", type=int, default=16 * MiB)
    parser.add_argument(
        "--fanout-size", type=int, default=32, help="bytes per fan-out message by default"
    )
    return parser.parse_args(argv)


def split_list(value):
    return [item.strip() for item in value.split(",") if item.strip()]


class BaseHandler(tornado.websocket.WebSocketHandler):
    """Origin and subprotocol policy shared by every route."""

    def initialize(self, options):
        self.options = options

    def check_origin(self, origin):
        if self.options.reject_origin:
            return False
        # Tornado's default accepts only an Origin whose host:port equals the Host header; a
        # browser page served from another local port (a dev server) must pass too.
        hostname = (urlparse(origin).hostname or "").lower()
        return hostname in self.options.origin_hosts or super().check_origin(origin)

    def select_subprotocol(self, subprotocols):
        for subprotocol in subprotocols:
            if subprotocol in self.options.subprotocols:
                return subprotocol
        return None

    def open(self):
        # Tornado leaves Nagle's algorithm on; the Node servers under comparison turn it off.
        self.set_nodelay(True)


class EchoHandler(BaseHandler):
    def get_compression_options(self):
        # {} accepts permessage-deflate with Tornado's defaults; None (the default) refuses it.
        return {}

    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))


class SaidHandler(BaseHandler):
    def on_message(self, message):
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        self.write_message("You said: " + message)


class FanoutHandler(BaseHandler):
    subscribers = set()

    def open(self):
        super().open()
        FanoutHandler.subscribers.add(self)

    def on_close(self):
        FanoutHandler.subscribers.discard(self)

    def on_message(self, message):
        if isinstance(message, bytes) or not message.startswith("publish:"):
            return
        parts = message.split(":")
        try:
            count = int(parts[1])
            size = int(parts[2]) if len(parts) > 2 else self.options.fanout_size
        except ValueError:
            self.close(1003, "expected publish:<n>[:<size>]")
            return
        payload = b"x" * size
        for _ in range(count):
            for subscriber in list(FanoutHandler.subscribers):
                if subscriber is self:
                    continue
                try:
                    subscriber.write_message(payload, binary=True)
                except tornado.websocket.WebSocketClosedError:
                    FanoutHandler.subscribers.discard(subscriber)


async def main(argv):
    options = parse_args(argv)
    options.subprotocols = split_list(options.subprotocols)
    options.origin_hosts = [host.lower() for host in split_list(options.origin_hosts)]
    route_options = {"options": options}
    app = tornado.web.Application(
        [
            (r"/echo", EchoHandler, route_options),
            (r"/websocket", SaidHandler, route_options),
            (r"/fanout", FanoutHandler, route_options),
        ],
        websocket_max_message_size=options.max_message_size,
    )
    sockets = tornado.netutil.bind_sockets(options.port, address="127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR2, gc.collect)

    print(f"LISTENING {port}", flush=True)
    await stop.wait()
    server.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
