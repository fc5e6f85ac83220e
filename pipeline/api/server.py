"""Serving the app with uvicorn, in the foreground (`telecorr api`) or on a background thread
of a process that owns the store (`telecorr worker --api`)."""

from __future__ import annotations

import os
import threading
import time

import uvicorn

from pipeline.api.app import create_app


class BackgroundServer:
    """A uvicorn server on its own thread; `stop()` asks it to finish and waits for it."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread

    @property
    def port(self) -> int:
        """The bound port (useful when asked for port 0)."""
        return self.server.servers[0].sockets[0].getsockname()[1]

    def stop(self, timeout_s: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)


class UnprotectedBind(OSError):
    """Serving beyond this machine without a token; the message says what to do instead."""


def check_exposure(host: str, token: str) -> None:
    """Refuse to serve on a non-loopback address with no bearer token: the API and report
    pages would be open to the whole network. Loopback stays open for one-machine use."""
    loopback = host in ("localhost", "::1") or host.startswith("127.")
    if not loopback and not token:
        raise UnprotectedBind(f"refusing to serve the API on {host} without a token: set TELECORR_API_TOKEN, "
                              "or listen on 127.0.0.1 (and put an authenticating proxy in front)")


def _server(settings: object, client, host: str, port: int, extra_registries: tuple = ()) -> uvicorn.Server:
    check_exposure(host, os.environ.get("TELECORR_API_TOKEN", ""))
    config = uvicorn.Config(create_app(settings, client, extra_registries), host=host, port=port, log_level="warning",
                            access_log=False, lifespan="off")
    return uvicorn.Server(config)


def serve(settings: object, client, host: str, port: int) -> None:
    """Serve until interrupted (uvicorn handles SIGINT/SIGTERM)."""
    _server(settings, client, host, port).run()


def serve_in_background(settings: object, client, host: str, port: int,
                        start_timeout_s: float = 10.0, extra_registries: tuple = ()) -> BackgroundServer:
    """Start serving on a daemon thread (uvicorn leaves signals to the main thread) and return
    once the socket listens; raise OSError when it cannot bind (e.g. the port is taken)."""
    server = _server(settings, client, host, port, extra_registries)

    def run() -> None:
        try:
            server.run()
        except SystemExit:  # uvicorn's way of saying it could not bind; reported below
            pass

    thread = threading.Thread(target=run, name="telecorr-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(1.0)
            raise OSError(f"the API could not start listening on {host}:{port}")
        time.sleep(0.02)
    return BackgroundServer(server, thread)
