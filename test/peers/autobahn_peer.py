"""A WebSocket peer on Debian's python3-autobahn (its asyncio WebSocket protocols, not WAMP), for interop tests.

    autobahn_peer.py client URL SIZE CLOSER CODE REASON
    autobahn_peer.py server SIZE CLOSER CODE REASON      (prints {"port": N} first)
    autobahn_peer.py ordered URL SIZE CODE REASON

client/server: sends SIZE random bytes (binary messages of 64 KiB) while receiving SIZE bytes.
CLOSER is 'me' (this peer closes with CODE/REASON once both directions are done) or 'them' (it
waits for the other side's Close). ordered: sends SIZE bytes and at once its Close, then counts
what comes back before the peer's Close. Each prints one JSON line: sha256 of what it sent and
received, byte counts, and the close code and reason it got from the other side.
"""
import asyncio
import hashlib
import json
import os
import sys
from urllib.parse import urlparse

import autobahn
from autobahn.asyncio.websocket import (
    WebSocketClientFactory,
    WebSocketClientProtocol,
    WebSocketServerFactory,
    WebSocketServerProtocol,
)

CHUNK = 64 * 1024


def make_peer(base, size, closer, code, reason, done, ordered=False):
    class Peer(base):
        def onOpen(self):
            self.sent_hash, self.recv_hash = hashlib.sha256(), hashlib.sha256()
            self.received = 0
            left = size
            while left > 0:
                data = os.urandom(min(CHUNK, left))
                self.sent_hash.update(data)
                self.sendMessage(data, isBinary=True)
                left -= len(data)
            if ordered:
                self.sendClose(code=code, reason=reason)
            else:
                self.maybe_close()

        def onMessage(self, payload, isBinary):
            self.recv_hash.update(payload)
            self.received += len(payload)
            if not ordered:
                self.maybe_close()

        def maybe_close(self):
            if closer == "me" and self.received >= size:
                self.sendClose(code=code, reason=reason)

        def onClose(self, wasClean, closeCode, closeReason):
            if done.done():
                return
            done.set_result({
                "sent": self.sent_hash.hexdigest() if hasattr(self, "sent_hash") else None,
                "received": self.recv_hash.hexdigest() if hasattr(self, "recv_hash") else None,
                "receivedBytes": getattr(self, "received", 0),
                "closeCode": self.remoteCloseCode,
                "closeReason": self.remoteCloseReason or "",
                "wasClean": wasClean,
                "version": autobahn.__version__,
            })

    return Peer


async def main():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    role = sys.argv[1]
    # echoCloseCodeReason: autobahn answers a Close with 1000 and no reason unless told to echo
    # the peer's code and reason, as RFC 6455 section 5.5.1 suggests and the tests check.
    options = dict(
        maxMessagePayloadSize=2 ** 21, maxFramePayloadSize=2 ** 21,
        openHandshakeTimeout=10, closeHandshakeTimeout=10, echoCloseCodeReason=True,
    )
    if role in ("client", "ordered"):
        if role == "client":
            url, size, closer, code, reason = sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6]
        else:
            url, size, code, reason = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
            closer = "me"
        factory = WebSocketClientFactory(url)
        factory.setProtocolOptions(**options)
        factory.protocol = make_peer(WebSocketClientProtocol, size, closer, code, reason, done, ordered=role == "ordered")
        target = urlparse(url)
        await loop.create_connection(factory, target.hostname, target.port)
        result = await asyncio.wait_for(done, 60)
    else:
        size, closer, code, reason = int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
        factory = WebSocketServerFactory()
        factory.setProtocolOptions(**options)
        factory.protocol = make_peer(WebSocketServerProtocol, size, closer, code, reason, done)
        server = await loop.create_server(factory, "127.0.0.1", 0)
        print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
        result = await asyncio.wait_for(done, 60)
        server.close()
    print(json.dumps(result), flush=True)


asyncio.run(main())
