"""bench/pages: the public site's board and commitment pages, against baselines in the same run.

The stores have the shape of bench/views (`build`; 1M events at full size, `--events`
overrides): one commitment per 100 events, up to 500 actors and 200 topics, five years of
world time, each commitment with a long history. In a run that has just run bench/views,
its SQLite stores (caught up) are served instead of being built again (bench/stores).

1. Render time: p99 of the board page (`/commitments` with a random filter: actor, status,
   topic or overdue) and of a random commitment's page (`/commitments/{id}`), through the
   ASGI app in-process, at the full size against the same at 10,000 events. Goal <= 1.5x.
   Both stores are read into the page cache first; they take turns request by request, so
   that both meet the same machine; the objects alive before the timed requests are frozen
   out of the garbage collector.
2. Throughput: requests/s of the board page against the JSON board (`/v1/commitments`) with
   the same filters, on the full-size store, served by one `ledger serve` process (followers
   off, views caught up) and the same load generator for both, in alternating rounds.
   Goal >= 0.5x.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx

from api.app import create_app
from api.services import Services
from api.settings import ApiSettings
from bench import pg, stores
from bench.api_bench import BIN, _port, _wait
from bench.views_bench import DAYS, START, build, catch_up, p99, warm
from ledger.config import Settings

SMALL = 10_000
END = (START + timedelta(days=DAYS)).isoformat()


def _targets(services: Services) -> dict[str, list[str]]:
    """What the store holds to filter by and to open: actors who made commitments, topics,
    and commitment ids."""
    with services.followers.views["records"].read() as sql:
        return {
            "actors": sorted(
                r["party"]
                for r in sql.rows("SELECT DISTINCT party FROM v_records WHERE kind = 'commitment'")
            ),
            "topics": sorted(r["topic"] for r in sql.rows("SELECT DISTINCT topic FROM v_topics")),
            "commitments": sorted(
                r["id"] for r in sql.rows("SELECT id FROM v_records WHERE kind = 'commitment'")
            ),
        }


def _board_paths(targets: dict[str, list[str]], n: int, seed: int, *, json: bool) -> list[str]:
    """`n` filtered first pages of the board: the site's page, or the JSON endpoint with the
    same filters (the same seed gives the same filters to both)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        choice = rng.randrange(4)
        if choice == 0:
            query = f"actor={rng.choice(targets['actors'])}"
        elif choice == 1:
            query = f"status={rng.choice(['in_progress', 'stalled', 'fulfilled'])}"
        elif choice == 2:
            query = f"topic={rng.choice(targets['topics'])}"
        else:
            query = "overdue=" + ("true" if json else "yes")
        out.append(f"{'/v1' if json else ''}/commitments?{query}&at={END}")
    return out


def _commitment_paths(targets: dict[str, list[str]], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"/commitments/{rng.choice(targets['commitments'])}?at={END}" for _ in range(n)]


async def _get(client: httpx.AsyncClient, path: str) -> float:
    started = time.perf_counter()
    response = await client.get(path)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
    return elapsed


def render_latencies(urls: dict[str, str], n_requests: int, seed: int) -> dict[str, Any]:
    """p99 seconds of each page on each store, one request at a time through the ASGI app.
    The stores take turns, request by request, so both see the same machine."""
    opened = {
        name: Services.open(Settings(database_url=url), api=ApiSettings(run_followers=False))
        for name, url in urls.items()
    }
    try:
        paths = {}
        for name, services in opened.items():
            warm(services.ledger)
            targets = _targets(services)
            paths[name] = {
                "board": _board_paths(targets, n_requests, seed, json=False),
                "commitment": _commitment_paths(targets, n_requests, seed),
            }

        async def measure() -> dict[str, Any]:
            clients = {
                name: httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=create_app(services)),
                    base_url="http://bench",
                    timeout=60,
                )
                for name, services in opened.items()
            }
            samples: dict[str, dict[str, list[float]]] = {n: {} for n in opened}
            try:
                for page in ("board", "commitment"):
                    for name, client in clients.items():  # warm the caches alike
                        for path in paths[name][page][:10]:
                            await _get(client, path)
                    # The objects alive before timing (the app, modules, services) are set
                    # aside from the collector, as a pre-forking server would: a full
                    # collection of them costs tens of milliseconds at either size and would
                    # otherwise land on a sample at random.
                    gc.collect()
                    gc.freeze()
                    try:
                        for name in clients:
                            samples[name][page] = []
                        for i in range(n_requests):
                            for name, client in clients.items():
                                elapsed = await _get(client, paths[name][page][i])
                                samples[name][page].append(elapsed)
                    finally:
                        gc.unfreeze()
            finally:
                for client in clients.values():
                    await client.aclose()
            return {n: {k: p99(v) for k, v in pages.items()} for n, pages in samples.items()}

        return asyncio.run(measure())
    finally:
        for services in opened.values():
            services.close()


async def _load(
    base: str, paths: list[str], seconds: float, concurrency: int
) -> tuple[int, float, list[float]]:
    """Requests made, seconds taken and each latency, of `concurrency` clients going through
    `paths` in turn for `seconds`."""
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    turn = iter(range(10**12))

    async def worker(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < stop:
            path = paths[next(turn) % len(paths)]
            start = time.perf_counter()
            response = await client.get(base + path)
            latencies.append(time.perf_counter() - start)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(latencies), elapsed, latencies


def throughput(url: str, seconds: float, concurrency: int, seed: int) -> dict[str, Any]:
    """The board page and the JSON board with the same filters, on one server."""
    services = Services.open(Settings(database_url=url), api=ApiSettings(run_followers=False))
    try:
        targets = _targets(services)
    finally:
        services.close()
    port = _port()
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": url,
        "LEDGER_RUN_FOLLOWERS": "false",
    }
    server = subprocess.Popen(
        [str(BIN / "ledger"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{base}/healthz")
        paths = {
            "json": _board_paths(targets, 2000, seed, json=True),
            "page": _board_paths(targets, 2000, seed, json=False),
        }
        for name in paths:  # warm-up
            asyncio.run(_load(base, paths[name], 1.0, concurrency))
        # The two take turns in short rounds, so both see the same machine.
        done: dict[str, list[tuple[int, float, list[float]]]] = {n: [] for n in paths}
        rounds = 4
        for _ in range(rounds):
            for name in paths:
                done[name].append(
                    asyncio.run(_load(base, paths[name], seconds / rounds, concurrency))
                )
        out = {}
        for name, parts in done.items():
            count = sum(n for n, _, _ in parts)
            elapsed = sum(t for _, t, _ in parts)
            latencies = [x for _, _, lat in parts for x in lat]
            tail = statistics.quantiles(latencies, n=100)[98]
            out[name] = {"rps": count / elapsed, "p99_ms": tail * 1000, "requests": count}
        return out
    finally:
        server.terminate()
        server.wait(timeout=20)


def run(
    label: str,
    url_for: Callable[[str], str],
    n_events: int,
    n_requests: int,
    seconds: float,
    concurrency: int,
    *,
    share: bool = False,
) -> dict[str, Any]:
    """With `share`, stores bench/views built earlier in the run are served (bench/stores)."""
    out: dict[str, Any] = {"events": n_events, "small_events": SMALL}
    urls = {}
    for name, size, seed in (("big", n_events, 1), ("small", SMALL, 2)):
        started = time.perf_counter()
        kept = stores.caught_up(size, seed) if share else None
        urls[name] = kept or url_for(name)
        if kept is None:
            ledger, _ = build(urls[name], size, seed=seed)
            catch_up(ledger)
            ledger.close()
        out[f"{name}_build_s"] = time.perf_counter() - started
        out[f"{name}_shared_with_views"] = kept is not None
    latencies = render_latencies(urls, n_requests, seed=3)
    big, small = latencies["big"], latencies["small"]
    out["p99_ms"] = {
        k: {"big": v * 1000, "small": small[k] * 1000, "ratio": v / small[k]}
        for k, v in big.items()
    }
    rps = throughput(urls["big"], seconds, concurrency, seed=4)
    out["board_rps"] = {**rps, "ratio": rps["page"]["rps"] / rps["json"]["rps"]}
    shared = " (stores built by bench/views)" if out["big_shared_with_views"] else ""
    print(f"\nbench/pages — {label}, {n_events:,} events (small store: {SMALL:,}){shared}")
    for k, v in out["p99_ms"].items():
        print(
            f"  {k + ' page':<16} p99 {v['big']:7.2f} ms vs {v['small']:6.2f} ms at "
            f"{SMALL:,}: {v['ratio']:.2f}x (goal <= 1.5x)"
        )
    page, json = rps["page"], rps["json"]
    print(
        f"  board page  {page['rps']:>7,.0f} req/s  p99 {page['p99_ms']:7.1f} ms\n"
        f"  JSON board  {json['rps']:>7,.0f} req/s  p99 {json['p99_ms']:7.1f} ms\n"
        f"  board page / JSON board = {out['board_rps']['ratio']:.2f}x req/s (goal >= 0.5x), "
        f"{concurrency} concurrent clients, {seconds:.0f} s each in 4 alternating rounds, "
        "1 server worker"
    )
    return out


def main(
    n_events: int | None = None,
    n_requests: int = 500,
    seconds: float = 8.0,
    concurrency: int = 16,
    postgres: bool | None = None,
) -> dict[str, Any]:
    """SQLite always; PostgreSQL too when `postgres` is true, or when it is None and
    LEDGER_BENCH_PAGES_POSTGRES=1 is set (building the stores there takes much longer)."""
    n = n_events or 1_000_000
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run(
            "SQLite",
            lambda name: f"sqlite:///{tmp}/{name}.db",
            n,
            n_requests,
            seconds,
            concurrency,
            share=True,
        )
    if postgres is None:
        postgres = os.environ.get("LEDGER_BENCH_PAGES_POSTGRES") == "1"
    if not postgres:
        return results
    with pg.schemas("benchp") as pg_url:
        if pg_url is not None:
            results["postgres"] = run("PostgreSQL", pg_url, n, n_requests, seconds, concurrency)
    return results


if __name__ == "__main__":
    main()
