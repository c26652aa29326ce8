"""The floor for the throughput figure: a bare aiohttp client that sends the same requests with the
same concurrency to the same server and does nothing else (no suite, no scoring, no results).

    python -m benchmarks.bare_client URL N CONCURRENCY
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp


async def send_all(url: str, n: int, concurrency: int) -> None:
    limit = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one(i: int) -> None:
            body = {"model": "bench-model", "messages": [{"role": "user", "content": f"segment {i}"}],
                    "temperature": 0, "max_tokens": 32}
            async with limit, session.post(f"{url}/chat/completions", json=body) as response:
                await response.json()

        await asyncio.gather(*(one(i) for i in range(n)))


if __name__ == "__main__":
    asyncio.run(send_all(sys.argv[1].rstrip("/"), int(sys.argv[2]), int(sys.argv[3])))
