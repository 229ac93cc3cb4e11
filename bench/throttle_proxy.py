#!/usr/bin/env python3
"""A TCP proxy that caps each connection's server-to-client bytes per second.

A source across a long network path gives one TCP stream about window / RTT
of throughput, whatever the link could carry; this stands in for such a
path on one machine, to measure reading in parallel key ranges
(bench/README.md, "Reading in key ranges"):

    python3 bench/throttle_proxy.py --listen 6543 --to 127.0.0.1:5432 --mbps 8

Each connection gets its own cap; client-to-server bytes pass freely.
"""

import argparse
import asyncio
import time


async def pipe(reader, writer, rate):
    try:
        start, sent = time.monotonic(), 0
        while True:
            data = await reader.read(64 * 1024)
            if not data:
                break
            writer.write(data)
            await writer.drain()
            if rate:
                sent += len(data)
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    await asyncio.sleep(ahead)
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", type=int, required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--mbps", type=float, required=True, help="MB/s per connection, server to client")
    a = p.parse_args()
    host, port = a.to.rsplit(":", 1)
    rate = a.mbps * 1e6

    async def serve(cr, cw):
        sr, sw = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(cr, sw, 0), pipe(sr, cw, rate))

    server = await asyncio.start_server(serve, "127.0.0.1", a.listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
