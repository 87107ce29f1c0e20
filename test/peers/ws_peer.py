"""A WebSocket peer on Debian's python3-websockets (10.x legacy asyncio API), for interop tests.

    ws_peer.py client URL SIZE CLOSER CODE REASON
    ws_peer.py server SIZE CLOSER CODE REASON      (prints {"port": N} first)
    ws_peer.py sendclose URL SIZE CODE REASON

sendclose: sends SIZE random bytes and its Close at once, without waiting for anything, and reads
what comes back until the other side's Close (the ordered-close test: an echo returns everything).

Sends SIZE random bytes (binary messages of 64 KiB) while receiving SIZE bytes. CLOSER is 'me'
(this peer closes with CODE/REASON once both directions are done) or 'them' (it waits for the
other side's Close). Prints one JSON line: sha256 of what it sent and received, byte counts, and
the close code and reason it saw from the other side.
"""
import asyncio
import hashlib
import json
import os
import sys

import websockets

CHUNK = 64 * 1024


async def send_random(ws, size, sent_hash):
    """Sends `size` random bytes in binary messages of CHUNK bytes, hashing them as they go."""
    left = size
    while left > 0:
        data = os.urandom(min(CHUNK, left))
        sent_hash.update(data)
        await ws.send(data)
        left -= len(data)


async def exchange(ws, size, closer, code, reason):
    sent_hash, recv_hash = hashlib.sha256(), hashlib.sha256()
    received = 0

    async def send():
        await send_random(ws, size, sent_hash)

    async def recv():
        nonlocal received
        while received < size:
            data = await ws.recv()
            if isinstance(data, str):
                data = data.encode()
            recv_hash.update(data)
            received += len(data)

    await asyncio.gather(send(), recv())
    if closer == "me":
        await ws.close(code=code, reason=reason)
    else:
        try:
            while True:
                extra = await ws.recv()
                received += len(extra)
        except websockets.ConnectionClosed:
            pass
    await ws.wait_closed()
    return result(ws, sent_hash, recv_hash, received)


def result(ws, sent_hash, recv_hash, received):
    """The JSON line a run prints: both hashes, the bytes received and the other side's Close."""
    return {
        "sent": sent_hash.hexdigest(),
        "received": recv_hash.hexdigest(),
        "receivedBytes": received,
        "closeCode": ws.close_code,
        "closeReason": ws.close_reason,
        "version": websockets.__version__,
    }


async def send_then_close(url, size, code, reason):
    sent_hash, recv_hash = hashlib.sha256(), hashlib.sha256()
    received = 0
    async with websockets.connect(url, max_size=2 ** 21) as ws:

        async def recv():
            nonlocal received
            try:
                while True:
                    data = await ws.recv()
                    recv_hash.update(data)
                    received += len(data)
            except websockets.ConnectionClosed:
                pass

        reading = asyncio.ensure_future(recv())
        await send_random(ws, size, sent_hash)
        await ws.close(code=code, reason=reason)
        await reading
        return result(ws, sent_hash, recv_hash, received)


async def main():
    role = sys.argv[1]
    if role == "sendclose":
        url, size, code, reason = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
        print(json.dumps(await send_then_close(url, size, code, reason)), flush=True)
    elif role == "client":
        url, size, closer, code, reason = sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6]
        async with websockets.connect(url, max_size=2 ** 21) as ws:
            result = await exchange(ws, size, closer, code, reason)
        print(json.dumps(result), flush=True)
    else:
        size, closer, code, reason = int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
        done = asyncio.get_running_loop().create_future()

        async def handler(ws, _path=None):
            try:
                done.set_result(await exchange(ws, size, closer, code, reason))
            except Exception as error:  # reported to the test, not swallowed
                done.set_exception(error)

        async with websockets.serve(handler, "127.0.0.1", 0, max_size=2 ** 21) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            print(json.dumps({"port": port}), flush=True)
            result = await asyncio.wait_for(done, 60)
        print(json.dumps(result), flush=True)


asyncio.run(main())
