#!/usr/bin/env python3
"""The seed's design: asyncio + aiohttp, as the story tells it.

usage: aiohttp_peer.py N C URL_PREFIX [CA_PEM]

Semaphore(C), TCPConnector(limit=C), and asyncio.gather(..., return_exceptions=True)
over one task per URL, created up front: that last part is what makes its memory
grow with N. Prints `ok=<n> errors=<n> secs=<s>`.
"""
import asyncio
import ssl
import sys
import time

import aiohttp


async def main(n, c, prefix, ca):
    sem = asyncio.Semaphore(c)
    ctx = ssl.create_default_context(cafile=ca) if ca else None
    conn = aiohttp.TCPConnector(limit=c, ssl=ctx if ctx else False if prefix.startswith("https") else None)
    ok = 0

    async with aiohttp.ClientSession(connector=conn) as session:

        async def fetch(i):
            nonlocal ok
            async with sem:
                async with session.get(f"{prefix}{i}") as resp:
                    await resp.read()
                    if resp.status == 200:
                        ok += 1
                    else:
                        raise RuntimeError(resp.status)

        results = await asyncio.gather(*(fetch(i) for i in range(n)), return_exceptions=True)
    errors = sum(1 for r in results if isinstance(r, BaseException))
    return ok, errors


if __name__ == "__main__":
    n, c, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    ca = sys.argv[4] if len(sys.argv) > 4 else None
    t = time.monotonic()
    ok, errors = asyncio.run(main(n, c, prefix, ca))
    print(f"ok={ok} errors={errors} secs={time.monotonic() - t:.3f}")
