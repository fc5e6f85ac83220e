"""Log bodies in the formats real services write, with trace ids where real services put them.

Each service has one format (JSON, logfmt, RFC 5424 or RFC 3164 syslog, a container runtime's
JSON wrapper, free text, Java/logback with multi-line stack traces) and one habit for trace
context: in the OTLP record's traceId/spanId, only inside the text (W3C `traceparent=…`,
`trace_id=…`, `TraceID: …`), a mix, or nowhere. Timestamps inside the text come from the
emitting host's (skewed) clock, like the record's own time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from pipeline.sim.topology import Instance

DEBUG, INFO, WARN, ERROR, FATAL = range(5)
SEV_NUMBER = (5, 9, 13, 17, 21)
SEV_TEXT = ("DEBUG", "INFO", "WARN", "ERROR", "FATAL")
_LOWER = ("debug", "info", "warn", "error", "fatal")
_SYSLOG_SEV = (7, 6, 4, 3, 2)  # syslog severities; facility local0 (16) makes PRI 128 + severity
_PADDED = tuple(f"{t:<5}" for t in SEV_TEXT)
_RPADDED = tuple(f"{t:>5}" for t in SEV_TEXT)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# A container runtime's wrapper fields after "log", per level: warnings and worse go to stderr.
_WRAPPER_STREAMS = tuple(f',"stream":"{"stderr" if lv >= WARN else "stdout"}","time":"' for lv in range(5))
# The zone-less local time of the `container-local` format: UTC+8 (pipeline/sim/profiles.py).
LOCAL_UTC_OFFSET_S = 8 * 3600
# Formats whose collector pipeline parsed the level into the OTLP record.
_SETS_SEVERITY = ("json", "logfmt")


class _Clockface(dict):
    """Wall-clock text per second (`face[sec]` -> ISO, spaced, BSD forms), cached: formatting
    dominates log rendering otherwise, and a dict lookup is the cheapest cache hit there is."""

    def __missing__(self, sec: int) -> tuple[str, str, str]:
        if len(self) > 4096:
            self.clear()
        g = time.gmtime(sec)
        p = self[sec] = (
            f"{g.tm_year:04d}-{g.tm_mon:02d}-{g.tm_mday:02d}T{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}",
            f"{g.tm_year:04d}-{g.tm_mon:02d}-{g.tm_mday:02d} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}",
            f"{_MONTHS[g.tm_mon - 1]} {g.tm_mday:2d} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}",
        )
        return p


class LogRenderer:
    """Renders log bodies in each service's format (the caller decides where trace ids go)."""

    def __init__(self) -> None:
        self.face = _Clockface()
        self._by_format = {"json": self._json, "logfmt": self._logfmt, "syslog5424": self._syslog5424,
                           "syslog3164": self._syslog3164, "container": self._container, "java": self._java,
                           "text": self._text, "container-local": self._container_local}

    def style(self, inst: Instance) -> tuple[Callable[..., str], str, bool]:
        """(format function, trace-context habit, whether the record carries the severity) for inst.

        The format function is bound to inst (its names, pid and port baked in once, as they are
        the same on every line) and takes (level, msg, emitted_ns, trace_in_text, span, exc),
        returning the body; `trace_in_text` is '' when the ids do not go into the text.
        """
        svc = inst.service
        return self._by_format[svc.log_format](inst), svc.trace_in_logs, svc.log_format in _SETS_SEVERITY

    def _json(self, inst: Instance) -> Callable[..., str]:
        face, dumps = self.face, orjson.dumps
        name = inst.service.name
        if inst.service.language == "go":
            heads = tuple(f'{{"level":"{_LOWER[lv]}","ts":' for lv in range(5))
            tails = tuple(f',"caller":"{name}/handler.go:{88 + lv}","msg":' for lv in range(5))

            def head(level: int, t: int) -> str:
                return f"{heads[level]}{t / 1e9}{tails[level]}"
        else:
            heads = tuple(f'{{"level":"{_LOWER[lv]}","time":"' for lv in range(5))
            tail = f'Z","logger":"{name}.app","msg":'

            def head(level: int, t: int) -> str:
                sec, frac = divmod(t, 1_000_000_000)
                return f"{heads[level]}{face[sec][0]}.{frac // 1_000_000:03d}{tail}"

        def render(level: int, msg: str, t: int, trace: str, span: str, exc: str) -> str:
            body = head(level, t) + dumps(msg).decode()
            if trace:
                body += f',"trace_id":"{trace}","span_id":"{span}"'
            if exc:
                body += ',"error":' + dumps(exc).decode()
            return body + "}"
        return render

    def _logfmt(self, inst: Instance) -> Callable[..., str]:
        face = self.face
        levels = tuple(f"Z level={_LOWER[lv]} msg=\"" for lv in range(5))
        svc = f'" service={inst.service.name}'

        def render(level: int, msg: str, t: int, trace: str, span: str, exc: str) -> str:
            sec, frac = divmod(t, 1_000_000_000)
            body = f"time={face[sec][0]}.{frac // 1_000_000:03d}{levels[level]}{_q(msg)}{svc}"
            if trace:
                body += f" trace_id={trace} span_id={span}"
            if exc:
                body += f' error="{_q(exc.splitlines()[0])}"'
            return body
        return render

    def _syslog5424(self, inst: Instance) -> Callable[..., str]:
        face = self.face
        pri = tuple(f"<{128 + _SYSLOG_SEV[lv]}>1 " for lv in range(5))
        who = f"Z {inst.host} {inst.service.name} {inst.pid} - - "

        def render(level: int, msg: str, t: int, trace: str, span: str, exc: str) -> str:
            sec, frac = divmod(t, 1_000_000_000)
            body = f"{pri[level]}{face[sec][0]}.{frac // 1000:06d}{who}{msg}"
            if trace:
                body += f" traceparent=00-{trace}-{span}-01"
            if exc:
                body += " " + exc.splitlines()[0]
            return body
        return render

    def _syslog3164(self, inst: Instance) -> Callable[..., str]:
        face = self.face
        pri = tuple(f"<{128 + _SYSLOG_SEV[lv]}>" for lv in range(5))
        who = tuple(f" {inst.host} {inst.service.name}[{inst.pid}]: {SEV_TEXT[lv]} " for lv in range(5))

        def render(level: int, msg: str, t: int, trace: str, span: str, exc: str) -> str:
            body = f"{pri[level]}{face[t // 1_000_000_000][2]}{who[level]}{msg}"
            if trace:
                body += f" TraceID: {trace}"
            if exc:
                body += " " + exc.splitlines()[0]
            return body
        return render

    def _container(self, inst: Instance) -> Callable[..., str]:
        face, dumps = self.face, orjson.dumps
        who = tuple(f" {_PADDED[lv]} {inst.service.name}: " for lv in range(5))
        streams = _WRAPPER_STREAMS

        def render(level: int, msg: str, t: int, trace: str, span: str, exc: str) -> str:
            sec, frac = divmod(t, 1_000_000_000)
            iso, spaced, _ = face[sec]
            line = f"{spaced}.{frac // 1_000_000:03d}{who[level]}{msg}"
            if trace:
                line += f" TraceID: {trace}"
            if exc:
                line += "\n" + exc
            return '{"log":' + dumps(line + "\n").decode() + f'{streams[level]}{iso}.{frac:09d}Z"}}'
        return render

    def _container_local(self, inst: Instance) -> Callable[..., str]:
        """A logback line stamped in local time without a zone, in the container runtime's JSON
        wrapper (whose own stamp is UTC); the trace id, if any, goes in the text as `TraceID:`."""
        face, dumps = self.face, orjson.dumps
        svc = inst.service
        shift = LOCAL_UTC_OFFSET_S
        who = tuple(f" {_PADDED[lv]} [http-nio-{svc.port}-exec-" for lv in range(5))
        logger = f"] c.shop.{svc.name}.{svc.name.capitalize()}Service - "
        streams = _WRAPPER_STREAMS

        def render(level: int, msg: str, t: int, trace: str, span: str, exc: str) -> str:
            sec, frac = divmod(t, 1_000_000_000)
            line = f"{face[sec + shift][1]}.{frac // 1_000_000:03d}{who[level]}{1 + frac % 9}{logger}"
            if trace:
                line += f"TraceID: {trace} SpanID: {span} "
            line += msg
            if exc:
                line += "\n" + exc
            return '{"log":' + dumps(line + "\n").decode() + f'{streams[level]}{face[sec][0]}.{frac:09d}Z"}}'
        return render

    def _java(self, inst: Instance) -> Callable[..., str]:
        face = self.face
        svc = inst.service
        lead = tuple(f" {_RPADDED[lv]} {inst.pid} --- [nio-{svc.port}-exec-" for lv in range(5))
        logger = f"] c.shop.{svc.name}.Controller : "

        def render(level: int, msg: str, t: int, trace: str, span: str, exc: str) -> str:
            sec, frac = divmod(t, 1_000_000_000)
            body = f"{face[sec][1]}.{frac // 1_000_000:03d}{lead[level]}{1 + frac % 9}{logger}{msg}"
            if trace:
                body += f" [trace_id={trace} span_id={span}]"
            if exc:
                body += "\n" + exc
            return body
        return render

    def _text(self, inst: Instance) -> Callable[..., str]:
        face = self.face
        who = tuple(f" {SEV_TEXT[lv]} [{inst.id}] " for lv in range(5))

        def render(level: int, msg: str, t: int, trace: str, span: str, exc: str) -> str:
            sec, frac = divmod(t, 1_000_000_000)
            body = f"{face[sec][1]},{frac // 1_000_000:03d}{who[level]}{msg}"
            if trace:
                body += f" TraceID: {trace}"
            if exc:
                body += "\n" + exc
            return body
        return render


def _q(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


# --- what services say -------------------------------------------------------------------

_EXC = {
    "java": ("java.lang.IllegalStateException", "inventory snapshot is stale for item {n}"),
    "python": ("KeyError", "'item-{n}'"),
    "node": ("TypeError", "Cannot read properties of null (reading 'amount')"),
    "dotnet": ("System.InvalidOperationException", "Sequence contains no matching element"),
    "go": ("error", "validate request: field quantity out of range ({n})"),
}
_DEPLOY_EXC = {
    "java": ("java.lang.NoSuchMethodError", "'java.util.Optional com.shop.pricing.Rules.lookup(java.lang.String)'"),
    "python": ("AttributeError", "'NoneType' object has no attribute 'currency'"),
    "node": ("TypeError", "Cannot read properties of undefined (reading 'currencyCode')"),
    "dotnet": ("System.NullReferenceException", "Object reference not set to an instance of an object."),
    "go": ("panic", "runtime error: invalid memory address or nil pointer dereference"),
}
_OOM = {
    "java": "java.lang.OutOfMemoryError: Java heap space",
    "python": "MemoryError",
    "node": "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
    "dotnet": "System.OutOfMemoryException: Exception of type 'System.OutOfMemoryException' was thrown.",
    "go": "fatal error: runtime: out of memory",
}


def exception(inst: Instance, kind: str, n: int) -> tuple[str, str, str]:
    """(type, message, stack trace) of an application error; kind is 'error' or 'bad-deploy'."""
    svc = inst.service
    etype, emsg = (_DEPLOY_EXC if kind == "bad-deploy" else _EXC)[svc.language]
    emsg = emsg.replace("{n}", str(n))
    return etype, emsg, stack(svc.language, svc.name, etype, emsg)


def stack(lang: str, sname: str, etype: str, emsg: str) -> str:
    """A plausible multi-line stack trace in the language's own layout."""
    cls = sname.capitalize()
    if lang == "java":
        return (f"{etype}: {emsg}\n\tat com.shop.{sname}.{cls}Service.handle({cls}Service.java:142)\n"
                f"\tat com.shop.{sname}.{cls}Controller.invoke({cls}Controller.java:57)\n"
                "\tat io.grpc.stub.ServerCalls$UnaryServerCallHandler$UnaryServerCallListener.onHalfClose(ServerCalls.java:182)\n"
                "\tat java.base/java.lang.Thread.run(Thread.java:1583)")
    if lang == "python":
        return ("Traceback (most recent call last):\n"
                f'  File "/app/{sname}/server.py", line 88, in handle\n    result = self.service.run(request)\n'
                f'  File "/app/{sname}/service.py", line 41, in run\n    return self.lookup[request.key]\n'
                f"{etype}: {emsg}")
    if lang == "node":
        return (f"{etype}: {emsg}\n    at {cls}Handler.run (/app/src/{sname}.js:42:17)\n"
                "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)")
    if lang == "dotnet":
        return (f"{etype}: {emsg}\n   at Shop.{cls}.{cls}Store.Get(String id) in /src/{cls}Store.cs:line 57\n"
                f"   at Shop.{cls}.{cls}Service.Handle(Request req) in /src/{cls}Service.cs:line 31")
    if etype == "panic":
        return (f"panic: {emsg}\n\ngoroutine 1337 [running]:\nmain.(*{cls}Server).Handle(...)\n"
                f"\t/app/{sname}/server.go:112 +0x1d")
    return f"{emsg}"


# Faults that raise nothing: the handler's line changes, nothing else does.
_SILENT_EXC = {
    "java": ("java.lang.NullPointerException", "Cannot invoke \"String.length()\" because \"code\" is null"),
    "python": ("ValueError", "invalid literal for int() with base 10: ''"),
    "node": ("TypeError", "Cannot read properties of undefined (reading 'units')"),
    "dotnet": ("System.FormatException", "Input string was not in a correct format."),
    "go": ("strconv.ParseInt", "parsing \"\": invalid syntax"),
}


def silent_fault_line(kind: str, lang: str, operation: str, n: int) -> tuple[int, str]:
    """(level, message) a handler logs instead of its usual success line under a fault that
    changes a return value or swallows an exception; the request still succeeds."""
    if kind == "return-value":
        return INFO, f"{operation} returned an empty result for request {n}, using defaults"
    etype, emsg = _SILENT_EXC[lang]
    return WARN, f"caught {etype} in {operation}: {emsg}; returning the cached value for request {n}"


def oom_message(lang: str) -> str:
    return _OOM[lang]


def call_error(lang: str, kind: str, callee: str, addr: str, timeout_ms: int) -> str:
    """What a client library says when a call fails: refused, timeout, reset, pool, upstream."""
    if kind == "refused":
        return {"java": f"java.net.ConnectException: Connection refused: {addr}",
                "python": "ConnectionRefusedError: [Errno 111] Connection refused",
                "node": f"Error: connect ECONNREFUSED {addr}",
                "dotnet": f"System.Net.Http.HttpRequestException: Connection refused ({addr})",
                "go": f"dial tcp {addr}: connect: connection refused"}[lang]
    if kind == "timeout":
        return {"java": "java.net.SocketTimeoutException: Read timed out",
                "python": f"requests.exceptions.ReadTimeout: HTTPConnectionPool(host='{callee}'): Read timed out. (read timeout={timeout_ms / 1000:g})",
                "node": f"Error: timeout of {timeout_ms}ms exceeded",
                "dotnet": f"System.Threading.Tasks.TaskCanceledException: The request was canceled due to the configured HttpClient.Timeout of {timeout_ms / 1000:g} seconds elapsing.",
                "go": f"context deadline exceeded (Client.Timeout exceeded while awaiting headers) calling {callee}"}[lang]
    if kind == "reset":
        return {"java": "java.net.SocketException: Connection reset",
                "python": "ConnectionResetError: [Errno 104] Connection reset by peer",
                "node": "Error: read ECONNRESET",
                "dotnet": "System.IO.IOException: Unable to read data from the transport connection: Connection reset by peer.",
                "go": f"read tcp {addr}: read: connection reset by peer"}[lang]
    if kind == "pool":
        if lang == "java":
            return f"HikariPool-1 - Connection is not available, request timed out after {timeout_ms}ms."
        return f"timeout acquiring a connection from the {callee} pool after {timeout_ms}ms"
    if kind == "unavailable":
        return f"no healthy upstream for {callee}"
    return f"{callee} returned an error"
