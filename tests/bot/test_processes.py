"""Starting the stack: refusing ports another process holds."""

from __future__ import annotations

import socket
import sys

import pytest

from bot.processes import ManagedProcess, ProcessSpec, Stack, StartupError, port_in_use


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
        stack.actions = stack.rasa = stack.app = ManagedProcess(spec)
        with pytest.raises(StartupError, match=f"port {port} for app is already in use"):
            stack.start()
        assert not stack.app.running and stack.app.pid is None
