"""A program run in a container, through the Docker SDK's exec: stdin streamed in (bytes or a
file), stdout streamed out (to a file, or collected), stderr collected, the exit code read back.

What `docker exec -i` does, without a `docker` binary in the program's image and without a value
on any command line: environment values travel in the API request, never in an argv."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import BinaryIO

CHUNK = 1 << 16


@dataclass(frozen=True)
class Result:
    rc: int
    out: bytes  # b"" when stdout went to a file
    err: bytes

    @property
    def text(self) -> str:
        return self.out.decode(errors="replace")

    def why(self) -> str:
        """The failure as one would read it: the last lines of stderr, or the exit code."""
        lines = self.err.decode(errors="replace").strip().splitlines()
        return " / ".join(lines[-3:]) if lines else f"exit {self.rc}"


class ExecError(Exception):
    def __init__(self, argv: list[str], result: Result):
        super().__init__(f"{argv[0]}: {result.why()}")
        self.result = result


def run(api, container_id: str, argv: list[str], stdin: bytes | BinaryIO | None = None,
        stdout: BinaryIO | None = None, env: dict[str, str] | None = None, check: bool = False) -> Result:
    """argv in the container; `api` is docker.APIClient (a DockerClient's .api)."""
    from docker.utils.socket import STDOUT, frames_iter

    exec_id = api.exec_create(container_id, argv, stdin=stdin is not None, stdout=True, stderr=True,
                              environment=env or None)["Id"]
    conn = api.exec_start(exec_id, socket=True)
    raw = getattr(conn, "_sock", conn)
    feeder = None
    if stdin is not None:
        feeder = threading.Thread(target=_feed, args=(raw, stdin), daemon=True)
        feeder.start()
    out, err = [], []
    try:
        for stream, data in frames_iter(raw, tty=False):
            if stream == STDOUT:
                if stdout is not None:
                    stdout.write(data)
                else:
                    out.append(data)
            else:
                err.append(data)
    finally:
        conn.close()
    if feeder:
        feeder.join(timeout=10)
    result = Result(_exit_code(api, exec_id), b"".join(out), b"".join(err))
    if check and result.rc != 0:
        raise ExecError(argv, result)
    return result


def _feed(raw, stdin) -> None:
    try:
        if isinstance(stdin, (bytes, bytearray)):
            raw.sendall(stdin)
        else:
            while chunk := stdin.read(CHUNK):
                raw.sendall(chunk)
    except OSError:
        pass  # the program exited before reading all of it: its exit code says what happened
    finally:
        try:
            raw.shutdown(socket.SHUT_WR)  # end of input: what closing a pipe's end does
        except OSError:
            pass


def _exit_code(api, exec_id: str) -> int:
    for _ in range(200):  # the stream ends a moment before the engine records the exit
        info = api.exec_inspect(exec_id)
        if not info.get("Running") and info.get("ExitCode") is not None:
            return int(info["ExitCode"])
        time.sleep(0.05)
    return 125
