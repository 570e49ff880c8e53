"""A tiny HTTP proxy in front of moto that answers chosen AWS operations with errors.

moto cannot throttle or deny; AWS does both. The proxy answers in each service's own wire
format (JSON 1.1 for ECR, the query protocol's XML for IAM and STS), exactly as AWS does,
so botocore parses, retries and raises as it would against AWS.
"""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass
class Fault:
    operation: str  # e.g. CreateRepository, CreateRole
    code: str  # ThrottlingException, Throttling, AccessDeniedException, AccessDenied
    message: str
    times: int = 1_000_000  # how many requests of the operation get it


@dataclass
class FaultyProxy:
    """``stubs`` answers operations moto does not implement, with AWS's success answer."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    stubs: set[str] = field(default_factory=set)  # query-protocol operations (IAM)
    seen: list[str] = field(default_factory=list)  # operations, in order
    actions: set[str] = field(default_factory=set)  # their IAM actions, service:Operation
    answered: list[tuple[str, str]] = field(default_factory=list)  # (operation, fault code)
    url: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fault_for(self, operation: str) -> Fault | None:
        with self._lock:
            self.seen.append(operation)
            for fault in self.faults:
                if fault.operation == operation and fault.times > 0:
                    fault.times -= 1
                    self.answered.append((operation, fault.code))
                    return fault
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target = self.headers.get("X-Amz-Target")
                operation = target.rsplit(".", 1)[-1] if target else _query_action(body)
                proxy.actions.add(f"{_service(target, body)}:{operation}")
                fault = proxy.fault_for(operation)
                if fault is not None:
                    self._answer(*_error(fault, json_protocol=target is not None))
                elif operation in proxy.stubs:
                    self._answer(*_success(operation))
                else:
                    self._answer(*_forward(proxy.upstream, self, body))

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


def _query_action(body: bytes) -> str:
    return parse_qs(body.decode()).get("Action", [""])[0]


def _service(target: str | None, body: bytes) -> str:
    """The IAM action prefix of a request, from its JSON target or its API version."""
    if target:
        return {"AmazonEC2ContainerRegistry_V20150921": "ecr"}.get(target.split(".")[0], "?")
    version = parse_qs(body.decode()).get("Version", [""])[0]
    return {"2010-05-08": "iam", "2011-06-15": "sts"}.get(version, "?")


def _error(fault: Fault, *, json_protocol: bool) -> tuple[int, list[tuple[str, str]], bytes]:
    status = 400
    if json_protocol:
        body = json.dumps({"__type": fault.code, "message": fault.message}).encode()
        return status, [("Content-Type", "application/x-amz-json-1.1")], body
    xml = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{escape(fault.code)}</Code><Message>{escape(fault.message)}</Message>"
        "</Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    )
    return status, [("Content-Type", "text/xml")], xml.encode()


def _success(operation: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """The query protocol's answer to an operation that returns no data."""
    xml = (
        f'<{operation}Response xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
        "<ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId>"
        f"</ResponseMetadata></{operation}Response>"
    )
    return 200, [("Content-Type", "text/xml")], xml.encode()


def _forward(
    upstream: str, request: BaseHTTPRequestHandler, body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    parts = urlsplit(upstream)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        connection.request(request.command, request.path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()
