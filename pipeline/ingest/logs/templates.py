"""Log templates: each line's message with its variable parts masked, and a stable id for it.

The root-cause ranking compares how often each template is logged (pipeline/rca/logpatterns.py):
a changed return value or a caught exception raises no error, but the success path stops
logging a line it wrote every second, or a new line appears.

The template is a pure function of the line, so every worker and every replay gives a line the
same template, whatever order lines arrive in; the id is a hash of the template text. Masking
works in two steps so that a cheap, exact cache can sit between them:

1. every digit becomes '0' (a byte translation, ~0.1 µs): the cache key;
2. on a cache miss, the rest works on that digit-free text only: the app line's own header
   (time stamp, level, pid, thread, logger) is cut off, then uuids, hex ids, addresses,
   quoted strings, numbers and any token holding a digit become `<*>`, and trace context
   written into the line (`TraceID: <*> SpanID: <*>`) is dropped.

Step 2 reads nothing step 1 removed, so equal keys always mean equal templates and the cache
(per service, bounded) answers exactly what the slow path would. Lines of known templates (the
vast majority) cost a translation and a dict lookup.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from pipeline.column_batch import ColumnBatch
from pipeline.model import LogRecord

WILDCARD = "<*>"
# Templates longer than this are cut: the head of a line tells its kind apart.
MAX_CHARS = 300
# Keys kept per service before the cache starts over (a service logging unbounded distinct
# shapes, e.g. free text with random words, costs the slow path, never memory).
MAX_KEYS_PER_SERVICE = 20_000

_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")

# The app line's own header, when the body is a whole text line: a time stamp (digits are
# already zeros), then levels, a pid and `---` (Spring Boot), [thread]s in any order, then a
# logger and its ':' or '-' (or the separator alone). Each part is optional.
_LEVELS = (r"TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|FATAL|SEVERE|CRITICAL|"
           r"trace|debug|info|warn|warning|error|fatal")
_HEADER = re.compile(
    r"^\s*\[?(?:0{4}-0{2}-0{2}[T ]0{2}:0{2}:0{2}(?:[.,]0+)?(?:Z|[+-]0{2}:?0{2})?"
    r"|[A-Z][a-z]{2} +0{1,2} 0{2}:0{2}:0{2}(?:\.0+)?|0{2}:0{2}:0{2}(?:[.,]0+)?)\]?\s+"
    rf"(?:\[?(?:{_LEVELS})\]?:?\s+|0+\s+---\s+|\[[^\]]{{0,80}}\]\s+){{0,4}}"
    r"(?:(?:[A-Za-z_$][\w$]*(?:\.[\w$]+)+\s*(?:\[[^\]]{0,40}\])?)?\s*[:\-]\s+)?")
_LEVEL_ONLY = re.compile(rf"^\s*\[?(?:{_LEVELS})\]?:?\s+")
# Variable parts. Token-level ones are tried only where a token starts (the look-behind), so a
# long word is scanned once, not once per character.
_VARIABLE = re.compile(
    r"(?<![\w.\-+])(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # uuid
    r"|0+\.0+\.0+\.0+(?::0+)?(?![\w.])"  # ipv4[:port]
    r"|[\w.\-+]*0[\w.\-+]*)"  # any other token holding a digit: 12, 0x1f, 12ms, node-3, v2
    r"|\"(?:[^\"\\]|\\.){0,200}\"|'(?:[^'\\]|\\.){0,200}'"  # quoted strings
    r"|(?<==)[0-9a-fA-F]{4,}\b")  # key=3fa1b, and hex values that happen to hold no digit


# Trace context a service writes into its lines (`TraceID: … SpanID: …`, `[trace_id=… span_id=…]`,
# `traceparent=…`), once masked: it says which request, not what happened, so it is dropped and a
# line templates the same with or without it.
_TRACE_CONTEXT = re.compile(
    r"\[?\b(?:trace[_\-.]?id|traceparent|x-b3-traceid)\b\s*[:=]\s*<\*>"
    r"(?:[\s,;]*\b(?:span[_\-.]?id|x-b3-spanid)\b\s*[:=]\s*<\*>)?\]?", re.I)


_BLAKE2B_8 = hashlib.blake2b(digest_size=8)


def template_id(template: str) -> str:
    """16 hex chars naming a template; the same text gives the same id in every process."""
    h = _BLAKE2B_8.copy()  # cheaper than a new hasher
    h.update(template.encode())
    return h.hexdigest()


def _mask_variables(text: str) -> str:
    """`_VARIABLE.sub` over the text. Without quotes (which may span spaces) every variable lies
    within one space-separated word, so only words holding a digit or '=' are searched: the
    same result at about two thirds of the cost."""
    if "'" in text or '"' in text:
        return _VARIABLE.sub(WILDCARD, text)
    words = text.split(" ")
    for i, w in enumerate(words):
        if "0" in w or "=" in w:
            words[i] = _VARIABLE.sub(WILDCARD, w)
    return " ".join(words)


def mask(key: str) -> str:
    """The template of a message whose digits are already zeros (see the module doc)."""
    m = _HEADER.match(key)
    if m is not None and m.end():
        key = key[m.end():]
    else:
        m = _LEVEL_ONLY.match(key)
        if m is not None:
            key = key[m.end():]
    text = _mask_variables(key[:MAX_CHARS * 2])
    if "<*>" in text and ("race" in text or "RACE" in text):
        text = _TRACE_CONTEXT.sub("", text)
    text = " ".join(text.split())
    return text[:MAX_CHARS] or WILDCARD


def cache_key(message: str) -> bytes:
    """The first line of a message, with every digit turned into '0' (step 1)."""
    if "\n" in message:
        message = message.partition("\n")[0]
    return message[:MAX_CHARS * 2].encode("utf-8", "replace").translate(_DIGITS_TO_ZERO)


def template_of(message: str) -> tuple[str, str]:
    """(id, template) of one message, without a cache."""
    text = mask(cache_key(message).decode("utf-8", "replace"))
    return template_id(text), text


class TemplateMiner:
    """Assigns templates to batches of parsed log records, with a cache per service.

    The cache holds, per service, digit-free first lines already seen → (id, template);
    templates are shared objects, so a batch of a million lines holds a few hundred strings.
    """

    def __init__(self, max_keys_per_service: int = MAX_KEYS_PER_SERVICE) -> None:
        self._max = max_keys_per_service
        self._known: dict[str, dict[bytes, tuple[str, str]]] = {}
        self.misses = 0

    def assign(self, logs: Iterable[LogRecord] | ColumnBatch) -> None:
        """Fill `template_id` and `template` of every log (the columns of a ColumnBatch, or
        each record's, in place)."""
        if type(logs) is ColumnBatch:
            ids, texts = self._templates_of(logs.cols["body"], logs.cols["service"])
            logs.cols["template_id"], logs.cols["template"] = ids, texts
            return
        logs = list(logs)
        ids, texts = self._templates_of([r.body for r in logs], [r.service for r in logs])
        for rec, tid, text in zip(logs, ids, texts):
            rec.template_id, rec.template = tid, text

    def _templates_of(self, bodies: list[str], services: list[str]) -> tuple[list[str], list[str]]:
        """(template ids, templates) of the messages, each looked up in its service's cache."""
        known = self._known
        cache: dict[bytes, tuple[str, str]] = {}
        cache_service = None
        ids: list[str] = []
        texts: list[str] = []
        for body, service in zip(bodies, services):
            key = cache_key(body)
            if service is not cache_service:
                cache_service = service
                found = known.get(service)
                if found is None:
                    found = known[service] = {}
                cache = found
            hit = cache.get(key)
            if hit is None:
                hit = self._learn(cache, key)
            ids.append(hit[0])
            texts.append(hit[1])
        return ids, texts

    def _learn(self, cache: dict[bytes, tuple[str, str]], key: bytes) -> tuple[str, str]:
        self.misses += 1
        text = mask(key.decode("utf-8", "replace"))
        if len(cache) >= self._max:
            cache.clear()
        hit = cache[key] = (template_id(text), text)
        return hit

    def templates(self, service: str) -> set[tuple[str, str]]:
        """The (id, template) pairs seen for a service since the cache last started over."""
        return set(self._known.get(service, {}).values())
