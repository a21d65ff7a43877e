"""``ktui serve``: the dashboard in a browser tab, through textual-serve, behind a token.

textual-serve runs a command (here ``python -m ktui`` with the same global options)
in a child process per browser tab and relays its screen over a websocket; the app
in the tab is the real one. textual-serve only asks a tab's app to quit when its
websocket ends and never waits for the process, so an app that does not quit then —
one that is training — would outlive the server: stopping the server hangs up every
tab's process still going (SIGHUP, which stops its run after the batch and records it
``interrupted``, as a dropped SSH session does) and kills what is left after
:data:`HANGUP_SECONDS` (:func:`end_app_processes`).

textual-serve has no authentication of its own, so
:class:`TokenServer` adds one aiohttp middleware that checks every request — the
page, its scripts and styles, the websocket, downloads — for a random token: in the
URL's ``?token=`` (the address ``ktui serve`` prints) or in the cookie the first
page sets for the rest. Without it the answer is 403.

Plain Python over textual-serve, aiohttp (an optional dependency, ``ktui[web]``) and psutil;
nothing here imports Textual, TensorFlow or Keras: the child process does.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import os
import secrets
import shlex
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ktui.core.errors import KtuiError
from ktui.core.store_url import StoreLocation, store_argument, store_location

if TYPE_CHECKING:
    from aiohttp import web

TOKEN_BYTES = 24
"""``secrets.token_urlsafe(24)``: 32 characters, 192 random bits."""

TOKEN_PARAMETER = "token"
"""The query parameter of the printed URL that carries the token."""

SHUTDOWN_SECONDS = 10.0
"""How long stopping the server waits for the tabs' ktui processes to quit."""

HANGUP_SECONDS = 15.0
"""How long a hung-up tab's ktui gets to stop its run after the current batch, record it
and exit, before it is killed."""

REFUSED = (
    "ktui: this address needs its token. Open the URL that `ktui serve` printed "
    "(it ends in ?token=...).\n"
)


def require_textual_serve() -> None:
    """Check that textual-serve is installed, or say how to install it."""
    try:
        import textual_serve.server  # noqa: F401
    except ImportError:
        raise KtuiError(
            "serving ktui in a browser needs textual-serve, which is not installed",
            hint="Install it with `pip install 'ktui[web]'` (or `pip install textual-serve`).",
        ) from None


def app_command(global_options: Sequence[str]) -> str:
    """The shell command textual-serve runs per browser tab: this Python, ``-m ktui``,
    the same global options (``--store``, ``--presets``).

    ``exec``: textual-serve runs it through ``/bin/sh -c``, and dash forks the command
    instead of replacing itself, so without it each tab's process would be a shell's
    child, and what stops the shell would leave ktui running.
    """
    return "exec " + shlex.join([sys.executable, "-m", "ktui", *global_options])


def app_processes() -> list[Any]:
    """The tabs' processes: this process's descendants in its own session.

    A run that a tab starts in the background (``ctrl+b``), and a sweep's workers, have
    sessions of their own: they are meant to outlive the tab and the server, and are
    not in this list.
    """
    import psutil

    session = os.getsid(0)
    found = []
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(OSError):
                if os.getsid(child.pid) == session:
                    found.append(child)
    return found


def end_app_processes(processes: Sequence[Any], hangup_seconds: float = HANGUP_SECONDS) -> int:
    """Hang up ``processes`` (psutil processes), wait up to ``hangup_seconds`` for them to
    exit, then kill the rest; returns how many had to be killed."""
    import psutil

    alive = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGHUP)
            alive.append(process)
    _, alive = psutil.wait_procs(alive, timeout=hangup_seconds)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=5)
    return len(alive)


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback one (127.0.0.0/8, ::1)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or a :class:`KtuiError` saying why not.

    Binding here, before the server starts, turns a port in use into one clear message
    instead of a traceback from inside the event loop.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise KtuiError(
            f"--host {host}: not an address of this machine ({exc.strerror})",
            hint="Use 127.0.0.1 (the default), or 0.0.0.0 for every network interface.",
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Lets a restarted server take the port at once while old connections linger.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise KtuiError(
                f"port {port} on {host} is in use by another program",
                hint=f"Choose another with --port (e.g. --port {port + 1}).",
            ) from None
        if exc.errno == errno.EACCES:
            raise KtuiError(
                f"port {port} on {host} needs more privileges than you have",
                hint="Use a port from 1024 up, e.g. --port 8000.",
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise KtuiError(
                f"--host {host}: not an address of this machine",
                hint="Use 127.0.0.1 (the default), or 0.0.0.0 for every network interface.",
            ) from None
        raise KtuiError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


def public_url(host: str, port: int, token: str) -> str:
    """The address to open: an unspecified host (0.0.0.0, ::) becomes this machine's name."""
    shown = host
    if host in ("0.0.0.0", "::", ""):
        shown = socket.gethostname()
    elif ":" in host:
        shown = f"[{host}]"
    return f"http://{shown}:{port}/?{TOKEN_PARAMETER}={token}"


def _make_server_class() -> type[Any]:
    """:class:`TokenServer`, defined once textual-serve is known to be importable."""
    import aiohttp_jinja2
    from aiohttp import web
    from aiohttp.web_runner import GracefulExit
    from textual_serve.server import Server

    def _raise_exit() -> None:
        raise GracefulExit()

    Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

    class TokenServer(Server):  # type: ignore[misc]
        """textual-serve's server with a token check on every request and page URLs
        made from the address the browser used (so a forwarded port works)."""

        def __init__(self, command: str, *, host: str, port: int, token: str) -> None:
            super().__init__(command, host=host, port=port, title="ktui")
            self.token = token
            # Cookies are shared between ports of one host: name ours by port, so two
            # servers on one machine do not overwrite each other's.
            self.cookie = f"ktui_token_{port}"
            self.ready: Callable[[], None] = lambda: None
            self.sessions: set[asyncio.Task[Any]] = set()
            self.stopping = False
            self.stopper: asyncio.Future[None] | None = None
            self.hangup_seconds = HANGUP_SECONDS

        def _valid(self, given: str | None) -> bool:
            return given is not None and secrets.compare_digest(
                given.encode("utf-8", "replace"), self.token.encode("ascii")
            )

        @web.middleware
        async def check_token(self, request: web.Request, handler: Handler) -> web.StreamResponse:
            """Let a request through only with the token, in the URL or the cookie."""
            in_query = self._valid(request.query.get(TOKEN_PARAMETER))
            if not (in_query or self._valid(request.cookies.get(self.cookie))):
                return web.Response(status=403, text=REFUSED)
            if request.path == "/ws":
                # A browser tab's session: kept so that stopping the server ends it.
                task = asyncio.current_task()
                assert task is not None
                self.sessions.add(task)
                try:
                    return await handler(request)
                finally:
                    self.sessions.discard(task)
            response = await handler(request)
            if in_query and not response.prepared:
                # The page's scripts, styles and websocket carry no query of ours: the
                # cookie takes the token to them. HttpOnly keeps it from scripts,
                # SameSite=Strict from requests other sites make.
                response.set_cookie(
                    self.cookie, self.token, httponly=True, samesite="Strict", path="/"
                )
            return response

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(self.check_token)
            return app

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            """The page, with its websocket and static URLs on the address the browser
            used (textual-serve would use the bind address, which a forwarded port or
            0.0.0.0 does not match)."""
            origin = f"{request.scheme}://{request.host}"
            socket_scheme = "wss" if request.scheme == "https" else "ws"
            router = request.app.router
            font_size = request.query.get("fontsize", "16")
            context = {
                "font_size": int(font_size) if font_size.isdigit() else 16,
                "app_websocket_url": f"{socket_scheme}://{request.host}"
                f"{router['websocket'].url_for()}",
                "config": {"static": {"url": f"{origin}/static/"}},
                "application": {"name": self.title},
            }
            return aiohttp_jinja2.render_template("app_index.html", request, context)

        async def on_startup(self, app: web.Application) -> None:
            self.ready()

        def request_exit(self) -> None:
            """Ctrl+C or SIGTERM: end the tabs' sessions first, then stop the server
            (a second Ctrl+C stops it at once)."""
            if self.stopping:
                raise GracefulExit()
            self.stopping = True
            # Kept: the loop holds tasks only weakly.
            self.stopper = asyncio.ensure_future(self._end_sessions_then_exit())

        async def _end_sessions_then_exit(self) -> None:
            # A tab's ktui asked to quit (what ending its session does) while it trains
            # does not quit, and no longer answers a hang-up either; hung up first, it
            # stops its run after the batch, records it and exits, as when a terminal
            # closes. Killed only if that fails.
            left = app_processes()
            if left:
                await asyncio.to_thread(end_app_processes, left, self.hangup_seconds)
            # Ending a session closes its websocket. It has to happen while the server
            # still reads from its connections: aiohttp's own shutdown stops that first,
            # and then waits out every open websocket.
            sessions = list(self.sessions)
            for task in sessions:
                task.cancel()
            if sessions:
                await asyncio.wait(sessions, timeout=SHUTDOWN_SECONDS)
            asyncio.get_running_loop().call_soon(_raise_exit)

        def initialize_logging(self) -> None:
            # textual-serve logs every app start at INFO; only problems are worth a line.
            logging.basicConfig(level=logging.WARNING, format="ktui serve: %(message)s")

        def run(self, sock: socket.socket, ready: Callable[[], None]) -> None:
            """Serve on ``sock`` until Ctrl+C or SIGTERM; ``ready`` is called once the
            server accepts requests."""
            self.ready = ready
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, self.request_exit)
            try:
                web.run_app(
                    self._make_app(),
                    sock=sock,
                    handle_signals=False,
                    loop=loop,
                    access_log=None,
                    shutdown_timeout=SHUTDOWN_SECONDS,
                    print=None,
                )
            finally:
                # However the server ended (a second Ctrl+C stops it at once), no tab's
                # process outlives it.
                left = app_processes()
                if left:
                    end_app_processes(left, hangup_seconds=2.0)

    return TokenServer


def serve(
    *,
    host: str,
    port: int,
    global_options: Sequence[str],
    token: str | None = None,
    out: Callable[[str], None] = print,
    warn: Callable[[str], None] = print,
) -> int:
    """Serve the dashboard until interrupted; returns the exit code.

    ``global_options`` are the ``ktui`` options each browser tab's process gets.
    A missing textual-serve, a port in use or a bad host is a :class:`KtuiError`.
    """
    require_textual_serve()
    sock = bind(host, port)
    port = sock.getsockname()[1]  # port 0: the one the system chose
    token = token or secrets.token_urlsafe(TOKEN_BYTES)
    url = public_url(host, port, token)
    if not is_loopback(host):
        warn(
            f"ktui: warning: serving on {host}, reachable from other machines. Anyone "
            "with the address below (it holds the token) can start, stop and delete "
            "runs, and the connection is not encrypted; prefer the default 127.0.0.1 "
            "with SSH port forwarding."
        )

    def ready() -> None:
        out(f"ktui is served at {url}")
        out(
            "Open that address in a browser; without its token the page is refused. "
            f"From another machine: `ssh -L {port}:127.0.0.1:{port} {socket.gethostname()}`"
            ", then open it there with 127.0.0.1 as the host. Ctrl+C stops."
        )
        sys.stdout.flush()

    server = _make_server_class()(app_command(global_options), host=host, port=port, token=token)
    server.run(sock, ready)
    return 0


def global_options(store: StoreLocation | str | None, presets: Sequence[Path]) -> list[str]:
    """``--store`` and ``--presets`` as absolute paths (a store's URL as it is), for the
    served processes."""
    options: list[str] = []
    if store is not None:
        options += ["--store", store_argument(store_location(store))]
    for folder in presets:
        options += ["--presets", str(Path(folder).expanduser().resolve())]
    return options
