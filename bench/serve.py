"""Load test of ``heron serve`` over loopback, and ``/v1/search`` side by side with ``chroma run``.

Goal (issue 5): at nominal load zero errors; under overload only 429s, and the
p99 of accepted requests stays bounded; ``/v1/search`` at least 2x the
throughput of Chroma's HTTP query endpoint at equal or better p99.

1. Open-loop sweep. ``heron serve`` runs as a subprocess (one worker, bundled
   models: ``bundled:minilm`` embeds, ``bundled:smollm2`` writes) over a
   ``pydocs`` collection of the stdlib corpus (built in ``--home`` with
   ``heron ingest --corpus stdlib`` when missing). For N in 1, 4, 16, 64
   concurrent clients, each client sends requests on a fixed schedule
   (``--search-rate`` / ``--ask-rate`` requests per second per client, random
   phase) whatever the server answers: a request whose connection is busy gets a
   new one, so the server sees every arrival. Latency counts from the scheduled
   send time. Search queries and ask questions rotate through the dev questions
   (``src/heron/evals/data/stdlib_dev.jsonl``). Reported per N: accepted (2xx)
   p50/p95/p99, accepted throughput, 429s, other errors.
2. Vector search vs Chroma. Every record of the collection (ids, MiniLM vectors,
   documents, scalar metadata) is loaded into ``chroma run`` (chromadb server,
   cosine HNSW) and queried through its HTTP API (``POST .../collections/{id}/query``
   with ``query_embeddings``, ``include`` documents, metadatas, distances); Heron is
   queried through ``POST /v1/search`` with ``vector`` (the same vectors, same k,
   same fields back). Closed loop: N clients each send back to back on one
   keep-alive connection for ``--compare-seconds``, ``--rounds`` interleaved rounds
   per engine (order rotated each round, because the machine is shared); the round
   with the median throughput is reported, with every round's throughput. Heron is
   run as one process and with ``--workers 2``, both with ``--search-queue 128`` so
   64 closed-loop clients never meet a 429.
3. Overhead (``--overhead``, run on its own). The same closed-loop vector search
   (``--overhead-clients``, 16) against one ``heron serve`` per variant: plain,
   ``--access-log`` (text; stdout goes to /dev/null), ``--access-log --log-format
   json``, and ``--rate-limit`` set so high it never refuses (requests carry no
   key: one address bucket); interleaved rounds, the median round reported with
   its cost per request (1 / throughput, all cores together). Because those
   figures move by more than the middleware costs on a shared machine, each
   middleware is also timed in process around a no-op ASGI app (median of 7
   alternated runs of 20,000 calls): microseconds it adds per request.

The load generator is a minimal HTTP/1.1 client on asyncio streams with every
request body encoded up front (no client library in the hot path), so it costs
little CPU next to the servers; it still shares the machine with them. A
connection idle for more than 4 s is replaced before use, as HTTP clients do
(uvicorn closes idle keep-alive connections after 5 s).

Run::

    .venv/bin/python bench/serve.py                        # everything (~8 minutes)
    .venv/bin/python bench/serve.py --quick                # short runs, for a smoke check
    .venv/bin/python bench/serve.py --skip-ask --skip-chroma
    .venv/bin/python bench/serve.py --skip-sweeps           # only the Chroma comparison
    .venv/bin/python bench/serve.py --overhead              # cost of --access-log, --rate-limit

Output: markdown tables on stdout and ``bench/results/serve.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _stacks import RESULTS_DIR, go_offline, machine_info, markdown_table, write_json

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "src" / "heron" / "evals" / "data" / "stdlib_dev.jsonl"
LEVELS = (1, 4, 16, 64)
KEEP_ALIVE_S = 4.0


# ------------------------------------------------------------------ a tiny HTTP client


class Connection:
    """One keep-alive HTTP/1.1 connection; requests must carry Content-Length replies."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = time.perf_counter()

    def stale(self) -> bool:
        """Idle longer than servers keep connections (uvicorn: 5 s): reconnect, as clients do."""
        return time.perf_counter() - self.last_used > KEEP_ALIVE_S

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
        }
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        self.last_used = time.perf_counter()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def post(host: str, port: int, path: str, payload: Any) -> bytes:
    body = json.dumps(payload).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def encoded(
    port: int, path: str, body: Callable[[int], Any], period: int
) -> Callable[[int], bytes]:
    """Request ``i`` as bytes, encoded up front (``body`` repeats every ``period``)."""
    raw = [post("127.0.0.1", port, path, body(i)) for i in range(period)]
    return lambda i: raw[i % period]


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)  # accepted (2xx) only
    statuses: Counter[str] = field(default_factory=Counter)
    first: float = 0.0
    last: float = 0.0

    def summary(self) -> dict[str, Any]:
        accepted = sorted(self.latencies)
        elapsed = max(self.last - self.first, 1e-9)

        def pct(p: float) -> float | None:
            if not accepted:
                return None
            return accepted[min(len(accepted) - 1, int(round(p / 100 * (len(accepted) - 1))))]

        errors = {k: v for k, v in self.statuses.items() if not k.startswith("2")}
        return {
            "sent": sum(self.statuses.values()),
            "accepted": len(accepted),
            "throughput_rps": len(accepted) / elapsed,
            "p50_ms": _ms(pct(50)),
            "p95_ms": _ms(pct(95)),
            "p99_ms": _ms(pct(99)),
            "rejected_429": self.statuses.get("429", 0),
            "other_errors": sum(v for k, v in errors.items() if k != "429"),
            "statuses": dict(self.statuses),
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


async def _timed(conn: Connection, raw: bytes, start: float, out: Outcome) -> None:
    try:
        status, _ = await asyncio.wait_for(conn.request(raw), 300)
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
        conn.close()
        out.statuses[type(exc).__name__] += 1
        return
    end = time.perf_counter()
    out.last = max(out.last, end)
    out.statuses[str(status)] += 1
    if 200 <= status < 300:
        out.latencies.append(end - start)


async def open_loop(
    host: str, port: int, clients: int, rate: float, seconds: float, make: Callable[[int], bytes]
) -> Outcome:
    """``clients`` clients, each sending ``rate`` requests/s on schedule for ``seconds``."""
    out = Outcome(first=time.perf_counter())
    out.last = out.first
    counter = iter(range(10**9))

    async def client(phase: float) -> None:
        idle: list[Connection] = []
        tasks: list[asyncio.Task[None]] = []
        t0 = out.first + phase / rate
        k = 0
        while (at := t0 + k / rate) < out.first + seconds:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            conn = idle.pop() if idle else Connection(host, port)
            if conn.stale():
                conn.close()

            async def one(c: Connection = conn, start: float = at) -> None:
                await _timed(c, make(next(counter)), start, out)
                idle.append(c)

            tasks.append(asyncio.create_task(one()))
            k += 1
        await asyncio.gather(*tasks)
        for conn in idle:
            conn.close()

    rng = random.Random(clients)
    await asyncio.gather(*(client(rng.random()) for _ in range(clients)))
    return out


async def closed_loop(
    host: str, port: int, clients: int, seconds: float, make: Callable[[int], bytes]
) -> Outcome:
    """``clients`` clients, each sending back to back on one connection for ``seconds``."""
    out = Outcome(first=time.perf_counter())
    counter = iter(range(10**9))
    stop = out.first + seconds

    async def client() -> None:
        conn = Connection(host, port)
        while time.perf_counter() < stop:
            await _timed(conn, make(next(counter)), time.perf_counter(), out)
        conn.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return out


# ------------------------------------------------------------------ servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(port: int, path: str, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with opener.open(f"http://127.0.0.1:{port}{path}", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"no answer on port {port}{path}")


def heron_cli(home: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from heron.cli.main import run; run()",
        "--home",
        str(home),
        *args,
    ]


def start_heron(
    home: Path, args: argparse.Namespace, port: int, workers: int = 1, *extra: str
) -> subprocess.Popen[bytes]:
    cmd = heron_cli(
        home,
        "serve",
        "--port",
        str(port),
        "--collection",
        args.collection,
        "--llm",
        args.llm,
        "--workers",
        str(workers),
        "--timeout",
        "120",
        *extra,
    )
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(port, "/healthz", proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def ensure_collection(home: Path, name: str) -> None:
    from heron.store import open_store

    with open_store(home) as store:
        if name in [c.name for c in store.list_collections()]:
            return
    print(f"building '{name}' in {home} (heron ingest --corpus stdlib) …", file=sys.stderr)
    subprocess.run(
        heron_cli(home, "ingest", "--corpus", "stdlib", "--collection", name),
        check=True,
        stdout=subprocess.DEVNULL,
    )


def questions() -> list[str]:
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    return [row["query"] for row in rows]


# ------------------------------------------------------------------ the runs


def sweep(
    args: argparse.Namespace,
    port: int,
    path: str,
    rate: float,
    seconds: float,
    body: Callable[[int], Any],
) -> list[dict[str, Any]]:
    rows = []
    for clients in args.levels:
        out = asyncio.run(
            open_loop(
                "127.0.0.1",
                port,
                clients,
                rate,
                seconds,
                encoded(port, path, body, args.period),
            )
        )
        row = {"clients": clients, "offered_rps": clients * rate, **out.summary()}
        rows.append(row)
        print(
            f"  {path} N={clients}: {row['throughput_rps']:.1f} req/s accepted, "
            f"p99 {row['p99_ms']} ms, 429s {row['rejected_429']}, "
            f"errors {row['other_errors']} {row['statuses']}",
            file=sys.stderr,
        )
    return rows


def export_records(home: Path, name: str) -> dict[str, Any]:
    from heron.store import open_store

    with open_store(home) as store:
        found = store.get_collection(name).get(include=["documents", "metadatas", "embeddings"])
    scalar = (str, int, float, bool)
    metas = [
        {k: v for k, v in (m or {}).items() if isinstance(v, scalar)} or {"_": 0}
        for m in found.metadatas or []
    ]
    return {
        "ids": found.ids,
        "documents": found.documents,
        "embeddings": [v.tolist() for v in found.embeddings or []],
        "metadatas": metas,
    }


def start_chroma(folder: Path, port: int) -> subprocess.Popen[bytes]:
    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.Popen(
        [exe, "run", "--path", str(folder), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_http(port, "/api/v2/heartbeat", proc)
    return proc


def load_chroma(port: int, records: dict[str, Any]) -> str:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.HttpClient(
        host="127.0.0.1", port=port, settings=Settings(anonymized_telemetry=False)
    )
    col = client.create_collection(
        "pydocs", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
    )
    step = client.get_max_batch_size()
    for i in range(0, len(records["ids"]), step):
        col.add(
            ids=records["ids"][i : i + step],
            embeddings=records["embeddings"][i : i + step],
            documents=records["documents"][i : i + step],
            metadatas=records["metadatas"][i : i + step],
        )
    return str(col.id)


def compare(
    args: argparse.Namespace,
    vectors: list[list[float]],
    heron_ports: dict[str, int],
    chroma_port: int,
    chroma_id: str,
) -> list[dict[str, Any]]:
    chroma_path = (
        f"/api/v2/tenants/default_tenant/databases/default_database/collections/{chroma_id}/query"
    )
    include = ["documents", "metadatas", "distances"]
    engines: dict[str, tuple[int, str, Callable[[int], Any]]] = {
        name: (
            port,
            "/v1/search",
            lambda i: {
                "vector": vectors[i % len(vectors)],
                "k": args.k,
                "collection": args.collection,
            },
        )
        for name, port in heron_ports.items()
    }
    engines["chroma run"] = (
        chroma_port,
        chroma_path,
        lambda i: {
            "query_embeddings": [vectors[i % len(vectors)]],
            "n_results": args.k,
            "include": include,
        },
    )
    for port, path, body in engines.values():  # warm up: index loaded, connections made
        asyncio.run(
            closed_loop(
                "127.0.0.1",
                port,
                2,
                1.0,
                encoded(port, path, body, len(vectors)),
            )
        )
    rows = []
    for clients in args.levels:
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in engines}
        names = list(engines)
        for round_ in range(args.rounds):  # interleaved, order rotated every round
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                port, path, body = engines[name]
                out = asyncio.run(
                    closed_loop(
                        "127.0.0.1",
                        port,
                        clients,
                        args.compare_seconds,
                        encoded(port, path, body, len(vectors)),
                    )
                )
                runs[name].append(out.summary())
        for name, summaries in runs.items():
            ranked = sorted(summaries, key=lambda r: r["throughput_rps"])
            row = {
                "engine": name,
                "clients": clients,
                **ranked[len(ranked) // 2],
                "rounds_rps": [round(r["throughput_rps"]) for r in summaries],
            }
            rows.append(row)
            print(
                f"  {name} N={clients}: {row['throughput_rps']:.0f} req/s (median of "
                f"{row['rounds_rps']}), p99 {row['p99_ms']} ms, errors {row['other_errors']}",
                file=sys.stderr,
            )
    return rows


def table(rows: list[dict[str, Any]], first: str) -> str:
    headers = [
        first,
        "clients",
        "offered req/s",
        "accepted req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "429",
        "other errors",
    ]
    body = [
        [
            r.get(first, ""),
            r["clients"],
            f"{r.get('offered_rps', 0):g}" if "offered_rps" in r else "closed loop",
            f"{r['throughput_rps']:.1f}",
            r["p50_ms"],
            r["p95_ms"],
            r["p99_ms"],
            r["rejected_429"],
            r["other_errors"],
        ]
        for r in rows
    ]
    return markdown_table(headers, body)


def run_sweeps(args: argparse.Namespace, texts: list[str], result: dict[str, Any]) -> None:
    port = free_port()
    server = start_heron(args.home, args, port)
    try:
        # warm up: load the embedder and the LLM once
        asyncio.run(
            closed_loop(
                "127.0.0.1",
                port,
                1,
                1.0,
                lambda i: post("127.0.0.1", port, "/v1/search", {"query": texts[i % len(texts)]}),
            )
        )
        if not args.skip_ask:
            asyncio.run(
                closed_loop(
                    "127.0.0.1",
                    port,
                    1,
                    0.1,
                    lambda i: post(
                        "127.0.0.1", port, "/v1/ask", {"question": texts[0], "max_tokens": 8}
                    ),
                )
            )
        print("/v1/search open loop", file=sys.stderr)
        result["search"] = sweep(
            args,
            port,
            "/v1/search",
            args.search_rate,
            args.search_seconds,
            lambda i: {"query": texts[i % len(texts)], "k": args.k},
        )
        if not args.skip_ask:
            print("/v1/ask open loop", file=sys.stderr)
            result["ask"] = sweep(
                args,
                port,
                "/v1/ask",
                args.ask_rate,
                args.ask_seconds,
                lambda i: {"question": texts[i % len(texts)], "max_tokens": args.max_tokens},
            )
    finally:
        stop(server)


def run_compare(args: argparse.Namespace, texts: list[str], result: dict[str, Any]) -> None:
    from heron.models.registry import ModelRegistry

    vectors = ModelRegistry().embedder("bundled:minilm").embed_many(texts).tolist()
    records = export_records(args.home, args.collection)
    folder = Path(tempfile.mkdtemp(prefix="chroma-bench-"))
    chroma_port, port1, port2 = free_port(), free_port(), free_port()
    procs = [start_chroma(folder, chroma_port)]
    try:
        chroma_id = load_chroma(chroma_port, records)
        # closed loop with up to 64 clients: room for all of them, so no 429 skews the count
        room = ("--search-queue", str(2 * max(args.levels)))
        procs.append(start_heron(args.home, args, port1, 1, *room))
        procs.append(start_heron(args.home, args, port2, 2, *room))
        print("vector search: heron vs chroma run", file=sys.stderr)
        result["compare"] = compare(
            args,
            vectors,
            {"heron serve": port1, "heron serve --workers 2": port2},
            chroma_port,
            chroma_id,
        )
        result["compare_records"] = len(records["ids"])
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


#: ``heron serve`` flags whose per-request cost ``--overhead`` measures, against none
OVERHEAD_VARIANTS: dict[str, tuple[str, ...]] = {
    "plain": (),
    "--access-log": ("--access-log",),
    "--access-log --log-format json": ("--access-log", "--log-format", "json"),
    "--rate-limit (never refusing)": ("--rate-limit", "1e9", "--rate-burst", "1000000000"),
}


def run_overhead(args: argparse.Namespace, texts: list[str], result: dict[str, Any]) -> None:
    """Closed-loop vector searches against one server per variant, interleaved rounds."""
    from heron.models.registry import ModelRegistry

    vectors = ModelRegistry().embedder("bundled:minilm").embed_many(texts).tolist()
    room = ("--search-queue", str(2 * args.overhead_clients))
    ports: dict[str, int] = {}
    procs = []
    try:
        for name, extra in OVERHEAD_VARIANTS.items():
            ports[name] = free_port()
            procs.append(start_heron(args.home, args, ports[name], 1, *room, *extra))

        def body(i: int) -> dict[str, Any]:
            return {"vector": vectors[i % len(vectors)], "k": args.k, "collection": args.collection}

        requests = {
            name: encoded(port, "/v1/search", body, len(vectors)) for name, port in ports.items()
        }
        for name, port in ports.items():  # warm up: index loaded, inline lane on
            asyncio.run(closed_loop("127.0.0.1", port, 2, 1.0, requests[name]))
        names = list(ports)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        print(f"overhead: {args.overhead_clients} clients, vector search", file=sys.stderr)
        for round_ in range(args.rounds):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                out = asyncio.run(
                    closed_loop(
                        "127.0.0.1",
                        ports[name],
                        args.overhead_clients,
                        args.compare_seconds,
                        requests[name],
                    )
                )
                runs[name].append(out.summary())
        lanes = {name: search_lanes(port) for name, port in ports.items()}
    finally:
        for proc in procs:
            stop(proc)
    rows = []
    for name, summaries in runs.items():
        ranked = sorted(summaries, key=lambda r: r["throughput_rps"])
        median = ranked[len(ranked) // 2]
        rows.append(
            {
                "variant": name,
                "clients": args.overhead_clients,
                **median,
                "us_per_request": round(1e6 / max(median["throughput_rps"], 1e-9), 1),
                "rounds_rps": [round(r["throughput_rps"]) for r in summaries],
                "search_lanes": lanes[name],
            }
        )
    result["overhead"] = rows
    result["overhead_in_process_us"] = middleware_costs()


def middleware_costs(repeat: int = 7, calls: int = 20_000) -> dict[str, float]:
    """Microseconds per request each optional middleware adds, in process, around a no-op app.

    The HTTP figures of ``run_overhead`` move by more than these costs between rounds
    on a shared machine; this isolates them (median of ``repeat`` alternated runs).
    """
    import logging
    import statistics

    from heron.server.access_log import AccessLog
    from heron.server.metrics import Metrics
    from heron.server.ratelimit import RateLimit, TokenBuckets

    async def noop(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    logger = logging.getLogger("bench.access")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    sink = open(os.devnull, "w")  # noqa: SIM115 - closed below
    logger.addHandler(logging.StreamHandler(sink))
    state: Any = type("State", (), {"metrics": Metrics(), "keys": None})()
    apps: dict[str, Any] = {
        "none": noop,
        "--access-log": AccessLog(noop, "text", logger),
        "--access-log --log-format json": AccessLog(noop, "json", logger),
        "--rate-limit (never refusing)": RateLimit(noop, state, TokenBuckets(1e12, 10**12)),
    }
    headers = [(b"content-type", b"application/json"), (b"content-length", b"100")]

    async def timed(app: Any) -> float:
        started = time.perf_counter()
        for _ in range(calls):
            scope = {"type": "http", "method": "POST", "path": "/v1/search", "headers": headers}
            await app({**scope, "client": ("127.0.0.1", 5555)}, receive, send)
        return (time.perf_counter() - started) / calls * 1e6

    async def measure() -> dict[str, list[float]]:
        found: dict[str, list[float]] = {name: [] for name in apps}
        for _ in range(repeat):
            for name, app in apps.items():
                found[name].append(await timed(app))
        return found

    try:
        found = asyncio.run(measure())
    finally:
        sink.close()
    base = statistics.median(found.pop("none"))
    return {name: round(statistics.median(v) - base, 2) for name, v in found.items()}


def search_lanes(port: int) -> dict[str, int]:
    """How many searches ran inline and on pool threads (from ``/metrics``)."""
    raw = f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(raw.encode())
        text = b"".join(iter(lambda: sock.recv(65536), b"")).decode()
    found = re.findall(r'heron_search_lane_total\{lane="(\w+)"\} (\d+)', text)
    return {lane: int(n) for lane, n in found}


def main() -> None:
    go_offline()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path.home() / ".cache/heron/bench-serve")
    parser.add_argument("--collection", default="pydocs")
    parser.add_argument("--llm", default="bundled:smollm2")
    parser.add_argument(
        "--levels", type=lambda s: [int(x) for x in s.split(",")], default=list(LEVELS)
    )
    parser.add_argument("--search-rate", type=float, default=10.0, help="req/s per client")
    parser.add_argument("--ask-rate", type=float, default=0.05, help="req/s per client")
    parser.add_argument("--search-seconds", type=float, default=8.0)
    parser.add_argument("--ask-seconds", type=float, default=60.0)
    parser.add_argument("--compare-seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per engine")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--skip-ask", action="store_true")
    parser.add_argument("--skip-chroma", action="store_true")
    parser.add_argument("--skip-sweeps", action="store_true", help="only the Chroma comparison")
    parser.add_argument("--quick", action="store_true", help="short runs (smoke check)")
    parser.add_argument(
        "--overhead",
        action="store_true",
        help="only the cost of --access-log and --rate-limit per vector search",
    )
    parser.add_argument("--overhead-clients", type=int, default=16)
    args = parser.parse_args()
    if args.quick:
        args.search_seconds, args.ask_seconds, args.compare_seconds = 3.0, 8.0, 2.0
    ensure_collection(args.home, args.collection)
    texts = questions()
    args.period = len(texts)
    result: dict[str, Any] = {
        "machine": machine_info(),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }

    if args.overhead:
        run_overhead(args, texts, result)
    else:
        if not args.skip_sweeps:
            run_sweeps(args, texts, result)
        if not args.skip_chroma:
            run_compare(args, texts, result)
    path = RESULTS_DIR / "serve.json"
    if path.exists():  # a partial run (--skip-…) keeps the other sections of the last one
        earlier = json.loads(path.read_text())
        sections = ("search", "ask", "compare", "compare_records", "overhead")
        for key in (*sections, "overhead_in_process_us"):
            if key not in result and key in earlier:
                result[key] = earlier[key]
                result.setdefault("kept_from_earlier_run", []).append(key)
                result["earlier_run"] = {
                    "machine": earlier.get("machine"),
                    "args": earlier.get("args"),
                }
    write_json(path, result)
    print_tables(result, args)


def print_tables(result: dict[str, Any], args: argparse.Namespace) -> None:
    if "search" in result:
        print(
            "## /v1/search, open loop\n\n"
            + table([{"endpoint": "/v1/search", **r} for r in result["search"]], "endpoint")
        )
    if "ask" in result:
        print(
            "\n## /v1/ask, open loop\n\n"
            + table([{"endpoint": "/v1/ask", **r} for r in result["ask"]], "endpoint")
        )
    if "overhead" in result:
        print(
            "\n## overhead per vector search, closed loop\n\n"
            + table(result["overhead"], "variant")
            + "\n\n"
            + "\n".join(
                f"{r['variant']}: {r['us_per_request']} us/request, rounds {r['rounds_rps']}, "
                f"searches {r.get('search_lanes')}"
                for r in result["overhead"]
            )
            + "\n\nin process, microseconds added per request: "
            + json.dumps(result.get("overhead_in_process_us"))
        )
    if "compare" in result:
        print(
            f"\n## vector search, closed loop ({result['compare_records']} records, "
            f"k={args.k})\n\n" + table(result["compare"], "engine")
        )


if __name__ == "__main__":
    main()
