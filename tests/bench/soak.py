"""Soak test with faults: the scaled stack (nginx before two apps, two Rasa servers and two action
servers, on PostgreSQL and Redis) driven through nginx by concurrent conversations over the API and
the widget, with handoffs, agent replies and hand-backs mixed in, while an app instance, a Rasa
server and an action server are killed (kill -9) one after another and Redis is restarted.

At the end it checks the database against the clients' own logs:
- every message a client sent is stored exactly once (none lost, none duplicated), and no reply
  or agent's message reached a client twice;
- every message got its reply (or the polite fallback) within 30 s, retries included;
- no conversation saw an error outside the few seconds after a fault;
and prints p50 / p95 latency and throughput per minute, as a table and a chart.

    build/app-env/bin/python tests/bench/soak.py --minutes 10 --conversations 50 --json build/soak.json

`make bench` runs it so; tests/e2e/test_soak.py runs a one-minute version with one kill.
Needs nginx (`make run-scaled` installs it), redis-server (a private one, so that it can be
restarted) and PostgreSQL (TOUCHPOINT_TEST_POSTGRES_URL, default the local server).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import socket
import statistics
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.processes import Scale, Stack, Supervisor, instance_ports  # noqa: E402
from bot.settings import load_settings  # noqa: E402

QUESTIONS = [
    "How do I turn on international roaming?",
    "How much does data cost abroad?",
    "How can I pay my bill?",
    "I forgot my PIN, what do I do?",
    "怎么开通国际漫游？",
    "话费怎么交？",
    "How do I keep my number when I switch to another operator?",
    "My internet is very slow at home",
]
ASK_FOR_A_PERSON = "I want to talk to a person"
REPLY_DEADLINE = 30.0  # seconds from the first sending to the reply, retries included
FAULT_WINDOW = 15.0  # seconds after a fault in which a client may see errors
PASSWORD = "soak-agent-password"


@dataclass
class Sent:
    conversation: str
    message_id: str
    channel: str
    first_sent: float
    replied: float | None = None
    attempts: int = 1
    fallback: bool = False
    replayed: bool = False


@dataclass
class Log:
    """What the clients saw."""

    sent: list[Sent] = field(default_factory=list)
    errors: list[tuple[float, str, str]] = field(default_factory=list)  # (when, conversation, what)
    replies: Counter = field(default_factory=Counter)  # (conversation, message id) -> reply frames got
    pushed: Counter = field(default_factory=Counter)  # (conversation, stored message id) -> pushes got
    faults: list[tuple[float, str]] = field(default_factory=list)
    health: list[tuple[float, int, float]] = field(default_factory=list)  # (when, status, seconds)
    handed_back: int = 0  # conversations an agent claimed, answered and handed back


def free_base_ports(count: int, span: int = 3) -> list[int]:
    """`count` ports p, each with p .. p + span free and apart from the others' (the balancer's
    port, then its instances')."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        apart = all(abs(port - other) > span for other in ports)
        if apart and port + span < 65000 and all(_free(port + n) for n in range(span + 1)):
            ports.append(port)
    return ports


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


# --- the clients -------------------------------------------------------------------------------


class ApiUser:
    """A conversation over POST /api/messages: each message with its message_id, sent again (the
    same id) after a connection error or a 5xx until it has its reply."""

    def __init__(self, http: httpx.AsyncClient, log: Log, rng: random.Random):
        self.http, self.log, self.rng = http, log, rng
        self.conversation = f"soak-api-{uuid.uuid4().hex[:12]}"
        self.token: str | None = None

    async def say(self, text: str) -> None:
        sent = Sent(self.conversation, uuid.uuid4().hex[:16], "api", time.monotonic())
        self.log.sent.append(sent)
        while time.monotonic() - sent.first_sent < REPLY_DEADLINE * 2:
            headers = {"X-Conversation-Token": self.token} if self.token else {}
            body = {"conversation_id": self.conversation, "text": text, "message_id": sent.message_id}
            try:
                response = await self.http.post("/api/messages", json=body, headers=headers)
            except httpx.HTTPError as exc:
                self.log.errors.append((time.monotonic(), self.conversation, type(exc).__name__))
            else:
                if response.status_code == 200:
                    reply = response.json()
                    sent.replied = time.monotonic()
                    sent.replayed = bool(reply.get("replayed"))
                    sent.fallback = (reply.get("handoff") or {}).get("reason") == "service_error"
                    self.token = reply.get("conversation_token") or self.token
                    self.log.replies[(self.conversation, sent.message_id)] += 1
                    return
                self.log.errors.append((time.monotonic(), self.conversation, f"HTTP {response.status_code}"))
                if response.status_code == 403 and self.token is None:
                    return  # a first message whose reply (and token) was lost: the client starts anew
            sent.attempts += 1
            await asyncio.sleep(0.5)


class WidgetUser:
    """A conversation over the widget's WebSocket: on a lost connection it reconnects with its
    session and sends again what got no reply (the same id), as widget.js does."""

    def __init__(self, url: str, log: Log):
        self.url, self.log = url, log
        self.session: str | None = None
        self.socket = None
        self.conversation = ""
        self.waiting: dict[str, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None

    async def connect(self) -> None:
        while True:
            try:
                self.socket = await websockets.connect(self.url, open_timeout=5)
                await self.socket.send(json.dumps({"type": "hello", "session": self.session, "language": "en"}))
                hello = json.loads(await asyncio.wait_for(self.socket.recv(), 10))
                break
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                self.log.errors.append((time.monotonic(), self.conversation or "widget", type(exc).__name__))
                await asyncio.sleep(0.5)
        self.session = hello["session"]
        if not self.conversation:
            from bot.channels.widget import conversation_for

            self.conversation = conversation_for(self.session)
        self._reader = asyncio.create_task(self._read(self.socket))

    async def _read(self, socket) -> None:
        with contextlib.suppress(websockets.WebSocketException, OSError):
            async for raw in socket:
                frame = json.loads(raw)
                if frame["type"] == "reply":
                    self.log.replies[(self.conversation, frame["id"])] += 1
                    if (waiter := self.waiting.pop(frame["id"], None)) and not waiter.done():
                        waiter.set_result(frame)
                elif frame["type"] == "push":
                    for message in frame["messages"]:
                        self.log.pushed[(self.conversation, message["id"])] += 1
                elif frame["type"] == "error":
                    self.log.errors.append((time.monotonic(), self.conversation, f"error frame: {frame['message']}"))
                    if (waiter := self.waiting.pop(frame.get("id"), None)) and not waiter.done():
                        waiter.set_exception(RuntimeError(frame["message"]))

    async def say(self, text: str) -> None:
        sent = Sent(self.conversation, uuid.uuid4().hex[:16], "web", time.monotonic())
        self.log.sent.append(sent)
        while time.monotonic() - sent.first_sent < REPLY_DEADLINE * 2:
            waiter = asyncio.get_running_loop().create_future()
            self.waiting[sent.message_id] = waiter
            try:
                await self.socket.send(json.dumps({"type": "message", "id": sent.message_id, "text": text}))
                done, _ = await asyncio.wait(
                    {waiter, self._reader}, timeout=REPLY_DEADLINE * 2, return_when=asyncio.FIRST_COMPLETED
                )
                if waiter in done:
                    reply = waiter.result()
                    sent.replied = time.monotonic()
                    sent.fallback = (reply.get("handoff") or {}).get("reason") == "service_error"
                    return
                raise ConnectionError("connection lost while waiting for the reply")
            except (ConnectionError, RuntimeError, websockets.WebSocketException, OSError) as exc:
                self.log.errors.append((time.monotonic(), self.conversation, type(exc).__name__))
                self.waiting.pop(sent.message_id, None)
                sent.attempts += 1
                await self.reconnect()

    async def reconnect(self) -> None:
        with contextlib.suppress(Exception):
            await self.socket.close()
        if self._reader:
            self._reader.cancel()
        await asyncio.sleep(0.3)
        await self.connect()

    async def close(self) -> None:
        if self._reader:
            self._reader.cancel()
        with contextlib.suppress(Exception):
            await self.socket.close()


async def converse(user, rng: random.Random, until: float) -> None:
    """Questions with pauses; now and then a request for a person, then more questions."""
    while time.monotonic() < until:
        text = ASK_FOR_A_PERSON if rng.random() < 0.08 else rng.choice(QUESTIONS)
        await user.say(text)
        await asyncio.sleep(rng.uniform(1.0, 4.0))


async def agent(base_url: str, username: str, log: Log, until: float) -> None:
    """An agent who claims whatever waits, answers it and hands it back a little later."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        page = await http.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        form = {"username": username, "password": PASSWORD, "csrf_token": csrf, "next": "/console"}
        await http.post("/login", data=form)
        token = (await http.get("/api/staff/me")).json()["csrf_token"]
        headers = {"X-CSRF-Token": token}
        console = asyncio.create_task(keep_console_open(base_url, http.cookies["touchpoint_staff"], until))
        while time.monotonic() < until:
            await asyncio.sleep(1.0)
            try:
                queue = (await http.get("/api/desk/queue")).json()["queue"]
                for item in queue:
                    if item["claimed_by"]:
                        continue
                    path = f"/api/desk/conversations/{item['conversation_id']}"
                    if (await http.post(path + "/claim", headers=headers)).status_code != 200:
                        continue
                    await http.post(path + "/messages", headers=headers, json={"text": "Hello, I can help with that."})
                    await asyncio.sleep(1.0)
                    await http.post(path + "/handback", headers=headers)
                    log.handed_back += 1
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                log.errors.append((time.monotonic(), "agent", type(exc).__name__))
        console.cancel()


async def keep_console_open(base_url: str, cookie: str, until: float) -> None:
    """The agent's console socket, through which the agent counts as online (handoffs then queue
    for them); opened again on whichever instance when it drops."""
    headers = {"Cookie": f"touchpoint_staff={cookie}", "Origin": base_url}
    url = base_url.replace("http", "ws", 1) + "/desk/ws"
    while time.monotonic() < until:
        with contextlib.suppress(OSError, TimeoutError, websockets.WebSocketException):
            async with websockets.connect(url, additional_headers=headers, open_timeout=5) as socket:
                async for _ in socket:
                    pass
        await asyncio.sleep(0.5)


async def watch_health(base_url: str, log: Log, until: float) -> None:
    """GET /healthz every second, as a load balancer or monitor would."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                status = (await http.get("/healthz")).status_code
            except httpx.HTTPError:
                status = 0
            log.health.append((started, status, time.monotonic() - started))
            await asyncio.sleep(1.0)


# --- faults ------------------------------------------------------------------------------------


def kill(stack: Stack, name: str, log: Log) -> None:
    process = stack.process(name)
    if process.pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
    log.faults.append((time.monotonic(), f"kill -9 {name}"))


async def run_faults(stack: Stack, redis, schedule: list[tuple[float, str]], started: float, log: Log) -> None:
    for at, what in schedule:
        await asyncio.sleep(max(0.0, started + at - time.monotonic()))
        if what == "redis":
            redis.stop()
            log.faults.append((time.monotonic(), "Redis restarted"))
            await asyncio.sleep(1.0)
            redis.start()
        else:
            kill(stack, what, log)


def supervise(stack: Stack, stop: threading.Event, events: list[str]) -> None:
    supervisor = Supervisor(stack)
    while not stop.is_set():
        events.extend(f"{time.strftime('%H:%M:%S')} {event}" for event in supervisor.check())
        time.sleep(0.25)


# --- checks ------------------------------------------------------------------------------------


async def stored_user_messages(database_url: str) -> dict[tuple[str, str], int]:
    """(conversation, client id) -> how many user messages the database holds with it."""
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import create_async_engine

    from bot.store.models import Message

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(Message.conversation_id, Message.data).where(Message.role == "user"))
            return Counter(
                (conversation, data["client_id"]) for conversation, data in rows if (data or {}).get("client_id")
            )
    finally:
        await engine.dispose()


def check(log: Log, stored: dict[tuple[str, str], int]) -> dict[str, object]:
    lost = [s for s in log.sent if stored.get((s.conversation, s.message_id), 0) == 0 and s.replied is not None]
    unanswered_lost = [s for s in log.sent if s.replied is None and stored.get((s.conversation, s.message_id), 0) == 0]
    duplicated = [key for key, count in stored.items() if count > 1]
    replies_twice = [key for key, count in log.replies.items() if count > 1]
    pushed_twice = [key for key, count in log.pushed.items() if count > 1]
    late = [s for s in log.sent if s.replied is None or s.replied - s.first_sent > REPLY_DEADLINE]
    fault_times = [when for when, _ in log.faults]
    unexplained = [
        (when, who, what)
        for when, who, what in log.errors
        if not any(0 <= when - fault <= FAULT_WINDOW for fault in fault_times)
    ]
    return {
        "messages_sent": len(log.sent),
        "lost": len(lost) + len(unanswered_lost),
        "duplicated": len(duplicated),
        "replies_delivered_twice": len(replies_twice) + len(pushed_twice),
        "late_or_unanswered": len(late),
        "replies_in_a_service_error_handoff": sum(s.fallback for s in log.sent),
        "replayed": sum(s.replayed for s in log.sent),
        "retried": sum(s.attempts > 1 for s in log.sent),
        "errors_in_fault_windows": len(log.errors) - len(unexplained),
        "errors_outside_fault_windows": len(unexplained),
        "unexplained_errors": [f"{when:.1f} {who} {what}" for when, who, what in unexplained[:20]],
        "late_messages": [
            f"{s.channel} {s.conversation} {s.message_id} sent {s.first_sent:.1f} attempts {s.attempts} "
            f"after {(s.replied - s.first_sent) if s.replied else float('inf'):.1f} s"
            for s in late[:20]
        ],
        "faults_at": [f"{when:.1f} {what}" for when, what in log.faults],
        "conversations_with_errors": len({who for _, who, _ in log.errors}),
        "handed_back_by_the_agent": log.handed_back,
        "healthz_checks": len(log.health),
        "healthz_slowest_s": round(max((seconds for _, _, seconds in log.health), default=0), 2),
        "healthz_not_ok_outside_fault_windows": sum(
            status != 200 and not any(0 <= when - fault <= FAULT_WINDOW for fault in fault_times)
            for when, status, _ in log.health
        ),
    }


def per_minute(log: Log, started: float) -> list[dict[str, float]]:
    minutes: defaultdict[int, list[float]] = defaultdict(list)
    for sent in log.sent:
        if sent.replied is not None:
            minutes[int((sent.replied - started) // 60)].append((sent.replied - sent.first_sent) * 1000)
    rows = []
    for minute in sorted(minutes):
        latencies = sorted(minutes[minute])
        rows.append(
            {
                "minute": minute + 1,
                "messages": len(latencies),
                "per_second": round(len(latencies) / 60, 2),
                "p50_ms": round(statistics.median(latencies)),
                "p95_ms": round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]),
            }
        )
    return rows


def chart(rows: list[dict[str, float]], log: Log, started: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, latency = plt.subplots(figsize=(9, 4))
    minutes = [row["minute"] for row in rows]
    latency.plot(minutes, [row["p50_ms"] for row in rows], marker="o", label="p50 ms")
    latency.plot(minutes, [row["p95_ms"] for row in rows], marker="o", label="p95 ms")
    latency.set_xlabel("minute")
    latency.set_ylabel("latency (ms)")
    throughput = latency.twinx()
    throughput.bar(minutes, [row["per_second"] for row in rows], alpha=0.2, color="grey", label="messages/s")
    throughput.set_ylabel("messages / s")
    for when, what in log.faults:
        latency.axvline((when - started) / 60 + 1, color="red", linestyle=":", linewidth=1)
        latency.text((when - started) / 60 + 1, latency.get_ylim()[1] * 0.95, what, rotation=90, fontsize=7)
    latency.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Soak:
    minutes: float = 10.0
    conversations: int = 50
    widget_share: float = 0.5
    faults: tuple[str, ...] = ("app-1", "rasa-1", "actions-1", "redis")
    seed: int = 7


async def drive(stack: Stack, redis, soak: Soak, log: Log) -> float:
    settings = stack.settings
    base_url = f"http://{settings.host}:{settings.app_port}"
    rng = random.Random(soak.seed)
    started = time.monotonic()
    until = started + soak.minutes * 60
    gap = soak.minutes * 60 / (len(soak.faults) + 1)
    schedule = [(gap * (n + 1), fault) for n, fault in enumerate(soak.faults)]
    limits = httpx.Limits(max_connections=soak.conversations * 2)
    async with httpx.AsyncClient(base_url=base_url, timeout=REPLY_DEADLINE * 2, limits=limits) as http:
        users = []
        for n in range(soak.conversations):
            if n < soak.conversations * soak.widget_share:
                user = WidgetUser(base_url.replace("http", "ws") + "/widget/ws", log)
                await user.connect()
            else:
                user = ApiUser(http, log, rng)
            users.append(user)
        tasks = [converse(user, random.Random(soak.seed + n), until) for n, user in enumerate(users)]
        others = (agent(base_url, "soak-agent", log, until), watch_health(base_url, log, until))
        await asyncio.gather(*tasks, *others, run_faults(stack, redis, schedule, started, log))
        for user in users:
            if isinstance(user, WidgetUser):
                await user.close()
    return started


def start_stack(folder: Path, database_url: str, tracker_url: str, redis_url: str) -> Stack:
    base = load_settings()
    public = dict(zip(("app", "rasa", "actions"), free_base_ports(3), strict=True))
    settings = base.with_overrides(
        database_url=database_url,
        rasa_tracker_url=tracker_url,
        redis_url=redis_url,
        app_port=public["app"],
        rasa_url=f"http://127.0.0.1:{public['rasa']}",
        actions_url=f"http://127.0.0.1:{public['actions']}",
        rate_address=0,  # every simulated user comes from this one address
        queue_timeout=0,
    )
    assert all(_free(port) for name in public for port in instance_ports(public[name], 2))
    stack = Stack(settings, folder, Scale(2, 2, 2))
    stack.start()

    async def add_agent() -> None:
        from bot.auth import hash_password
        from bot.store import Store

        store = Store.from_url(database_url)
        try:
            if await store.user_by_name("soak-agent") is None:
                await store.add_user("soak-agent", "Soak Agent", "agent", hash_password(PASSWORD))
        finally:
            await store.close()

    asyncio.run(add_agent())
    return stack


def run(stack: Stack, redis, soak: Soak, database_url: str) -> dict[str, object]:
    """Drive the started stack, with its supervisor, and check the outcome."""
    stop, restarts = threading.Event(), []
    supervisor = threading.Thread(target=supervise, args=(stack, stop, restarts), daemon=True)
    supervisor.start()
    log = Log()
    try:
        started = asyncio.run(drive(stack, redis, soak, log))
    finally:
        stop.set()
        supervisor.join()
    stored = asyncio.run(stored_user_messages(database_url))
    rows = per_minute(log, started)
    return {"checks": check(log, stored), "minutes": rows, "faults": [f for _, f in log.faults], "supervisor": restarts,
            "log": log, "started": started}  # fmt: skip


def print_report(report: dict[str, object]) -> None:
    print("\nminute  messages  per s   p50 ms   p95 ms")
    for row in report["minutes"]:
        print(
            f"{row['minute']:>6}  {row['messages']:>8}  {row['per_second']:>5}  {row['p50_ms']:>7}  {row['p95_ms']:>7}"
        )
    print("\nfaults:", ", ".join(report["faults"]))
    for event in report["supervisor"]:
        print("  " + event)
    print("\nchecks:")
    for name, value in report["checks"].items():
        print(f"  {name}: {value}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--faults", default="app-1,rasa-1,actions-1,redis", help="in this order; '' for none")
    parser.add_argument("--json", type=Path, help="write the figures here (and a chart beside it, .png)")
    args = parser.parse_args()
    from tests.databases import POSTGRES_ADMIN_URL, _admin
    from tests.redis_server import RedisServer

    folder = ROOT / "build" / "soak"
    folder.mkdir(parents=True, exist_ok=True)
    redis = RedisServer(folder)
    redis.start()
    name = f"touchpoint_soak_{uuid.uuid4().hex[:8]}"
    admin = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    database_url = f"{admin.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    tracker_url = f"{admin}/{name}_rasa"
    stack = start_stack(folder, database_url, tracker_url, redis.url)
    try:
        faults = tuple(fault for fault in args.faults.split(",") if fault)
        report = run(stack, redis, Soak(args.minutes, args.conversations, faults=faults), database_url)
    finally:
        stack.stop()
        redis.stop()
        for database in (name, f"{name}_rasa"):  # made by the stack (the app's) and by Rasa
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    print_report(report)
    if args.json:
        chart(report["minutes"], report["log"], report["started"], args.json.with_suffix(".png"))
        figures = {key: value for key, value in report.items() if key not in ("log", "started")}
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
        print(f"\nwrote {args.json} and {args.json.with_suffix('.png')}")
    checks = report["checks"]
    ok = not (
        checks["lost"] or checks["duplicated"] or checks["replies_delivered_twice"] or checks["late_or_unanswered"]
    )
    return 0 if ok and not checks["errors_outside_fault_windows"] else 1


if __name__ == "__main__":
    sys.exit(main())
