"""Starting the stack: refusing ports another process holds; supervising it: a process that dies is
started again after a back-off while the others keep running."""

from __future__ import annotations

import os
import signal
import socket
import sys

import pytest

from bot.processes import ManagedProcess, ProcessSpec, Scale, Stack, StartupError, Supervisor, port_in_use


def test_a_port_someone_listens_on_is_in_use():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_in_use(port)
    assert not port_in_use(port)


def test_stack_refuses_to_start_on_a_busy_port_and_starts_nothing(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        stack = Stack.__new__(Stack)
        url = f"http://127.0.0.1:{port}/healthz"
        spec = ProcessSpec("app", [sys.executable, "-c", "pass"], {}, url, tmp_path / "log")
        stack.actions = stack.rasa = stack.apps = [ManagedProcess(spec)]
        stack.balancer, stack.scale = [], Scale()
        with pytest.raises(StartupError, match=f"port {port} for app is already in use"):
            stack.start()
        assert not stack.process("app").running and stack.process("app").pid is None


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def sleeper(tmp_path, name: str) -> ManagedProcess:
    """A real child process that runs until killed."""
    spec = ProcessSpec(name, [sys.executable, "-c", "import time; time.sleep(600)"], {}, "http://x/", tmp_path / name)
    return ManagedProcess(spec)


@pytest.fixture
def stack(tmp_path):
    stack = Stack.__new__(Stack)
    stack.actions, stack.rasa, stack.apps = ([sleeper(tmp_path, n)] for n in ("actions", "rasa", "app"))
    stack.balancer = []
    for process in stack.processes:
        process.start()
    yield stack
    stack.stop()


def test_a_killed_process_is_started_again_after_a_back_off_and_the_others_keep_running(stack):
    clock = Clock()
    supervisor = Supervisor(stack, clock)
    assert supervisor.check() == []
    first = stack.process("actions").pid
    os.kill(first, signal.SIGKILL)
    stack.process("actions")._process.wait()
    [event] = supervisor.check()
    assert event.startswith("actions exited (code -9); starting it again in 1 s")
    assert not stack.process("actions").running and stack.process("rasa").running and stack.process("app").running
    clock.now += 0.5
    assert supervisor.check() == [] and not stack.process("actions").running  # still backing off
    clock.now += 0.5
    [event] = supervisor.check()
    assert stack.process("actions").running and stack.process("actions").pid != first
    assert event == f"actions started again (pid {stack.process('actions').pid}, restart 1)"
    # Dying again at once doubles the wait; a minute up resets it.
    os.kill(stack.process("actions").pid, signal.SIGKILL)
    stack.process("actions")._process.wait()
    assert "again in 2 s" in supervisor.check()[0]
    clock.now += 2
    supervisor.check()
    clock.now += Supervisor.STEADY
    supervisor.check()
    os.kill(stack.process("actions").pid, signal.SIGKILL)
    stack.process("actions")._process.wait()
    assert "again in 1 s" in supervisor.check()[0]
    assert supervisor.restarts == {"actions": 2, "rasa": 0, "app": 0}


def test_the_back_off_stops_doubling_at_thirty_seconds(stack):
    clock = Clock()
    supervisor = Supervisor(stack, clock)
    delays = []
    for _ in range(7):
        os.kill(stack.process("rasa").pid, signal.SIGKILL)
        stack.process("rasa")._process.wait()
        delays.append(supervisor.check()[0].split(" again in ")[1].split(" s")[0])
        clock.now += 30
        supervisor.check()
    assert delays == ["1", "2", "4", "8", "16", "30", "30"]
