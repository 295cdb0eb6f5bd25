"""HTTP load generator for the gateway comparison in benches/README.md.

N concurrent clients (asyncio + aiohttp, keep-alive connections; aiohttp's client costs
far less CPU per request than httpx's, which matters when it shares the machine) post SST-2 dev sentences, one per
request, to ``POST {url}/v1/classify`` as ``{"text": ...}`` and the run reports throughput and
latency percentiles as one JSON line (and a table row with ``--row NAME``):

    python benches/http_load.py --url http://127.0.0.1:8000 --requests 2000 --concurrency 64 \\
        [--hs256-key KEY]   # mints a bearer JWT with scope "classify" for the clinfer gateway

Every server under test gets the same sentences in the same order; a warm-up of ``--warmup``
requests (not counted) runs first. Non-200 answers are counted by status, never retried.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


def sentences(path: Path) -> List[str]:
    out = []
    with path.open(encoding="utf-8") as f:
        header = next(f).rstrip("\n").split("\t")
        column = header.index("sentence") if "sentence" in header else len(header) - 1
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) > column and fields[column]:
                out.append(fields[column])
    if not out:
        raise SystemExit(f"no sentences in {path}")
    return out


def bearer(key: Optional[str]) -> Dict[str, str]:
    if not key:
        return {}
    import jwt  # PyJWT, only needed for the authenticated gateway

    token = jwt.encode(
        {"sub": "http-load", "scope": "classify", "exp": int(time.time()) + 3600},
        key,
        algorithm="HS256",
    )
    return {"authorization": f"Bearer {token}"}


def percentile(sorted_values: List[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


async def run(
    url: str, texts: List[str], concurrency: int, headers: Dict[str, str]
) -> Dict[str, object]:
    latencies: List[float] = []
    statuses: Dict[str, int] = {}
    next_index = 0
    endpoint = url.rstrip("/") + "/v1/classify"
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)

    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers
    ) as session:

        async def worker() -> None:
            nonlocal next_index
            while next_index < len(texts):
                text = texts[next_index]
                next_index += 1
                t0 = time.perf_counter()
                try:
                    async with session.post(endpoint, json={"text": text}) as r:
                        await r.read()
                        key = str(r.status)
                except (aiohttp.ClientError, asyncio.TimeoutError) as err:
                    key = type(err).__name__
                latencies.append(time.perf_counter() - t0)
                statuses[key] = statuses.get(key, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0

    lat = sorted(latencies)
    ok = statuses.get("200", 0)
    return {
        "requests": len(texts),
        "ok": ok,
        "statuses": statuses,
        "concurrency": concurrency,
        "wall_s": round(wall, 3),
        "throughput_rps": round(ok / wall, 1),
        "p50_ms": round(1000 * percentile(lat, 0.50), 1),
        "p95_ms": round(1000 * percentile(lat, 0.95), 1),
        "p99_ms": round(1000 * percentile(lat, 0.99), 1),
        "mean_ms": round(1000 * statistics.fmean(lat), 1) if lat else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/sst2/dev.tsv")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--warmup", type=int, default=64)
    p.add_argument("--hs256-key", default=None, help="mint a bearer JWT with this HS256 key")
    p.add_argument("--row", default=None, help="also print a markdown table row with this name")
    args = p.parse_args()
    if args.requests < 1 or args.concurrency < 1:
        raise SystemExit("--requests and --concurrency must be at least 1")

    pool = sentences(args.data)
    texts = [pool[i % len(pool)] for i in range(args.requests)]
    headers = bearer(args.hs256_key)
    if args.warmup:
        asyncio.run(run(args.url, pool[: args.warmup], min(args.concurrency, args.warmup), headers))
    result = asyncio.run(run(args.url, texts, args.concurrency, headers))
    print(json.dumps(result), flush=True)
    if args.row:
        print(
            f"| {args.row} | {result['throughput_rps']} req/s | {result['p50_ms']} ms "
            f"| {result['p95_ms']} ms | {result['p99_ms']} ms | {result['ok']}/{result['requests']} |"
        )
    if result["ok"] != result["requests"]:
        print(f"non-200 answers: {result['statuses']}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
