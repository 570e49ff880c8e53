"""A tiny git smart-HTTP server for the git adapter's tests: ``git http-backend`` behind
GitHub-style basic auth (``x-access-token:<token>``), or a server that fails on purpose.

Modes: ``ok`` serves the repositories under ``root`` to the right token; ``unauthorized``
answers 401 to everything; ``error`` answers 500; ``echo`` answers git's ``ERR`` packet
quoting the password it was sent, like a careless server would.
"""

from __future__ import annotations

import base64
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class ServerState:
    root: Path
    token: str
    mode: str = "ok"
    seen_auth: list[str] = field(default_factory=list)  # "user:password" of each request


def _password(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    return base64.b64decode(value).decode()


def _handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet test output

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            credentials = _password(self.headers.get("Authorization", ""))
            if credentials is not None:
                state.seen_auth.append(credentials)
            if state.mode == "error":
                return self._reply(500, b"internal error\n")
            if state.mode == "echo" and credentials is not None:
                line = f"ERR access denied for {credentials}\n".encode()
                packet = f"{len(line) + 4:04x}".encode() + line
                return self._reply(200, packet, "application/x-git-upload-pack-advertisement")
            if (
                state.mode in ("unauthorized", "echo")
                or credentials != f"x-access-token:{state.token}"
            ):
                return self._reply(401, b"Bad credentials\n", challenge=True)
            self._cgi()

        def _reply(
            self,
            status: int,
            body: bytes,
            content_type: str = "text/plain",
            challenge: bool = False,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if challenge:
                self.send_header("WWW-Authenticate", 'Basic realm="GitHub"')
            self.end_headers()
            self.wfile.write(body)

        def _cgi(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            env = {
                "GIT_PROJECT_ROOT": str(state.root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "GIT_CONFIG_NOSYSTEM": "1",
                "PATH_INFO": url.path,
                "QUERY_STRING": url.query,
                "REQUEST_METHOD": self.command,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_USER": "x-access-token",
                "REMOTE_ADDR": "127.0.0.1",
                "PATH": "/usr/bin:/bin",
            }
            if self.headers.get("Content-Encoding"):
                env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
            if self.headers.get("Git-Protocol"):
                env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
            done = subprocess.run(
                ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
            )
            head, _, payload = done.stdout.partition(b"\r\n\r\n")
            status, headers = 200, []
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.split()[0])
                elif name:
                    headers.append((name, value.strip()))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@contextmanager
def serve(state: ServerState) -> Iterator[str]:
    """Serve ``state`` on a free loopback port; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
