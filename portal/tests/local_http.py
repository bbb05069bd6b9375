"""A real HTTP server on loopback (port 0) for tests of outgoing fetches: each path answers
what the test sets, and every request is recorded."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    etag: str = ""  # when set, If-None-Match with this value answers 304
    last_modified: str = ""  # when set, If-Modified-Since with this value answers 304
    delay: float = 0.0
    chunked: bool = False  # no Content-Length: the body is streamed in chunks


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class LocalServer:
    def __init__(self, host: str = "127.0.0.1", *, tls=None):
        """`tls`: an ssl.SSLContext with the server's certificate, to speak https."""
        self.answers: dict[str, Answer] = {}
        self.requests: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                server.requests.append(
                    Seen(self.path, {k.lower(): v for k, v in self.headers.items()})
                )
                answer = server.answers.get(self.path.split("?")[0], Answer(status=404))
                if answer.delay:
                    time.sleep(answer.delay)
                not_modified = (
                    answer.etag and self.headers.get("If-None-Match") == answer.etag
                ) or (
                    answer.last_modified
                    and self.headers.get("If-Modified-Since") == answer.last_modified
                )
                status = 304 if not_modified else answer.status
                body = b"" if status == 304 else answer.body
                self.send_response(status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if answer.etag:
                    self.send_header("ETag", answer.etag)
                if answer.last_modified:
                    self.send_header("Last-Modified", answer.last_modified)
                if answer.chunked and body:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(0, len(body), 65536):
                        part = body[i : i + 65536]
                        self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that hangs up early (size cap, timeout) is expected here

        self.httpd = Server((host, 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.httpd.daemon_threads = True
        self.host = host
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
