"""Latency and throughput of whole messages through the running stack, by channel: the API
(POST /api/messages) and the web widget (its WebSocket, as a new visitor: connect, hello, ask).

    python tests/bench/bench_messages.py [--url URL] [--channels api web] [--concurrency 1 10 50] [--messages 200]

Without --url it starts its own stack (Rasa, actions, app on free ports, a fresh SQLite file)
with the trained model and the demo knowledge base, and reports the memory of each process and
the CPU time each one spends per message.
Each message is a question from tests/e2e/queries.yml in a fresh conversation, so every one
goes through Rasa, the action server and the knowledge base.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import websockets
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.processes import Stack  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from tests.e2e.conftest import free_port  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants (Linux /proc)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MiB."""
    total = 0
    for current in process_tree(pid):
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children so far."""
    ticks = 0
    for current in process_tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (FileNotFoundError, ProcessLookupError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


async def ask_api(http: httpx.AsyncClient, url: str, text: str) -> None:
    body = {"conversation_id": f"bench-{uuid.uuid4().hex}", "text": text, "channel": "api"}
    response = await http.post(f"{url}/api/messages", json=body)
    response.raise_for_status()


async def ask_widget(http: httpx.AsyncClient, url: str, text: str) -> None:
    """A new visitor: open the widget's WebSocket, say hello, ask, wait for the reply."""
    async with websockets.connect(url.replace("http://", "ws://", 1) + "/widget/ws") as ws:
        await ws.send(json.dumps({"type": "hello", "session": None, "language": None}))
        json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "message", "id": "bench", "text": text}))
        while (frame := json.loads(await ws.recv()))["type"] != "reply":
            if frame["type"] == "error":
                raise RuntimeError(frame["message"])


CHANNELS = {"api": ask_api, "web": ask_widget}


async def run_level(url: str, questions: list[str], concurrency: int, total: int, channel: str = "api") -> dict:
    latencies: list[float] = []
    feed = itertools.cycle(questions)
    lock = asyncio.Lock()
    sent = 0
    ask = CHANNELS[channel]

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal sent
        while True:
            async with lock:
                if sent >= total:
                    return
                sent += 1
                text = next(feed)
            started = time.perf_counter()
            await ask(http, url, text)
            latencies.append((time.perf_counter() - started) * 1000)

    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=concurrency)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "channel": channel,
        "concurrency": concurrency,
        "messages": len(latencies),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "mean_ms": round(statistics.fmean(latencies), 1),
        "messages_per_s": round(len(latencies) / elapsed, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running app; default: start a stack")
    parser.add_argument("--channels", nargs="+", choices=sorted(CHANNELS), default=["api", "web"])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--messages", type=int, default=200, help="messages per concurrency level")
    parser.add_argument("--warmup", type=int, default=40, help="untimed messages first (Rasa warms up over ~30)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    queries = yaml.safe_load((ROOT / "tests" / "e2e" / "queries.yml").read_text(encoding="utf-8"))
    questions = [q["query"] for lang in ("en", "zh") for q in queries[lang]]

    stack = None
    url = args.url
    if url is None:
        run_dir = Path(tempfile.mkdtemp(prefix="touchpoint-bench-"))
        settings = load_settings().with_overrides(
            database_url=f"sqlite+aiosqlite:///{run_dir / 'bench.db'}",
            app_port=free_port(),
            rasa_url=f"http://127.0.0.1:{free_port()}",
            actions_url=f"http://127.0.0.1:{free_port()}",
            rate_address=0,  # every simulated user comes from this one address
        )
        print(f"starting the stack (logs in {run_dir / 'logs'})...", flush=True)
        stack = Stack(settings, run_dir)
        stack.start()
        url = f"http://127.0.0.1:{settings.app_port}"
    try:
        asyncio.run(run_level(url, questions, 1, args.warmup))
        results = []
        for channel, concurrency in itertools.product(args.channels, args.concurrency):
            before = {p.spec.name: cpu_seconds(p.pid) for p in stack.processes} if stack else {}
            result = asyncio.run(run_level(url, questions, concurrency, args.messages, channel))
            if stack:  # where the CPU goes: milliseconds of CPU per message, per process
                result["cpu_ms_per_message"] = {
                    p.spec.name: round((cpu_seconds(p.pid) - before[p.spec.name]) * 1000 / result["messages"], 1)
                    for p in stack.processes
                }
            results.append(result)
            print(json.dumps(result), flush=True)
        memory = {p.spec.name: round(rss_mb(p.pid), 1) for p in stack.processes} if stack else {}
        report = {"date": time.strftime("%Y-%m-%d"), "url": url, "levels": results, "rss_mb": memory}
        keys = ("channel", "concurrency", "messages", "p50_ms", "p95_ms", "p99_ms", "messages_per_s")
        print("\n| " + " | ".join(keys) + " |\n" + "|---" * len(keys) + "|")
        for r in results:
            cells = [r[k] for k in keys]
            print("| " + " | ".join(str(c) for c in cells) + " |")
        for r in results:
            if "cpu_ms_per_message" in r:
                cpu = ", ".join(f"{name} {ms}" for name, ms in r["cpu_ms_per_message"].items())
                print(f"CPU ms per message, {r['channel']} at concurrency {r['concurrency']}: {cpu}")
        if memory:
            print("memory (RSS, MiB): " + ", ".join(f"{name} {mb}" for name, mb in memory.items()))
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
    finally:
        if stack:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
