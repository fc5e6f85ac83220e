"""Level words and trace/span ids of free-text lines, a batch at a time, found by Hyperscan.

The per-line way (`TEXT_LEVEL_RE.search`, `extract_ids`) runs Python regexes over every
line; the three id regexes are case-insensitive, which makes `re` try each position in
turn (~15 µs a line that mentions a trace). Here one Hyperscan scan of the batch's joined
buffer (pipeline/ingest/logs/textblock.py) reports where each pattern can start
(HS_FLAG_SOM_LEFTMOST), and Python only confirms, with one anchored `re` match per
candidate, on the lines that have one. The results are the per-line functions' own:

- Each Hyperscan pattern matches a superset of what its `re` pattern matches (lookaheads
  dropped), so a line with no candidate has no match; for the leftmost true match, its
  start is the leftmost start Hyperscan reports for that match's end. Candidates are tried
  in ascending order with the very `re` pattern, so the first that matches is the match
  `search` finds.
- Byte offsets are character offsets, and Hyperscan's classes read as `re` reads them
  (`\\s`, `\\b`, ASCII case), only on ASCII lines; other lines (and lines holding NUL) go
  through the per-line functions.
"""

from __future__ import annotations

import threading

import hyperscan
import numpy as np

from pipeline.ingest.logs import severity
from pipeline.ingest.logs.formats import TEXT_LEVEL_RE
from pipeline.ingest.logs.textblock import ScanBuffer, plain_lines, scan_chunks
from pipeline.ingest.logs.traceids import extract_ids, ids_at

_LEVEL_END = 80  # TEXT_LEVEL_RE is searched in a line's first 80 characters (parse_text)
_UPPER = ("TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "WARNING", "ERROR", "ERR", "FATAL",
          "CRITICAL", "CRIT", "SEVERE", "PANIC")
_LOWER = ("trace", "debug", "info", "notice", "warn", "warning", "error", "fatal", "critical")
# Level patterns: TEXT_LEVEL_RE's words alone (upper case) and bracketed (lower case), one
# pattern id per word so that a match's end gives its start.
_LEVEL_PATTERNS = [w.encode() for w in _UPPER] + [rb"[\[(<]" + w.encode() + rb"[\])>]" for w in _LOWER]
_LEVEL_LEN = np.array([len(w) for w in _UPPER] + [len(w) + 2 for w in _LOWER], dtype=np.int64)
# Id patterns (case-insensitive): every trace-id mention starts at the word 'trace' or at
# 'x-b3-' before it, span ids likewise at 'span'; extract_ids reads only lines with 'trace'.
_ID_PATTERNS = [b"trace", b"span"]
_PARENT_DASHES = (2, 35, 52)  # traceparent: dashes this far from the match's start


class _Database:
    """Literal patterns in one Hyperscan database, compiled on first use, with a scratch
    space per thread. Pure literals keep the scan near memory speed (a hex-class pattern
    for traceparent ids cost 5x the rest, hence the dash test below)."""

    def __init__(self, patterns: list[bytes], flags: int):
        self.patterns, self.flags = patterns, flags
        self.db: hyperscan.Database | None = None
        self.local = threading.local()
        self.lock = threading.Lock()

    def ends(self, buffer: ScanBuffer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pattern id, line, end within the line) of every match in the buffer."""
        with self.lock:
            if self.db is None:
                db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
                n = len(self.patterns)
                db.compile(expressions=self.patterns, ids=list(range(n)), elements=n, flags=[self.flags] * n)
                self.db = db
        scratch = getattr(self.local, "scratch", None)
        if scratch is None:
            scratch = self.local.scratch = hyperscan.Scratch(self.db)
        buf, seps, _ = buffer
        pids, ends = scan_chunks(self.db, scratch, buf, seps)
        lines = np.searchsorted(seps, ends - 1, side="right") - 1
        return pids, lines, ends - seps[lines] - 1


_LEVELS = _Database(_LEVEL_PATTERNS, 0)
_IDS = _Database(_ID_PATTERNS, hyperscan.HS_FLAG_CASELESS)
_CLOCK = _Database([rb"[0-9]:[0-9][0-9]:[0-9]"], 0)  # timestamps._CLOCK: in every text stamp


def stamp_lines(buffer: ScanBuffer, max_end: int) -> np.ndarray:
    """Whether each line can hold a time stamp that ends by character `max_end`: every
    stamp find_timestamp reads has an hh:mm:ss, so a line without one there has none
    (lines that are not plain ASCII are kept, for the per-line check)."""
    plain = plain_lines(buffer)
    _, lines, end = _CLOCK.ends(buffer)
    out = ~plain
    out[lines[end <= max_end]] = True
    return out


def _by_line(lines: np.ndarray, offsets: np.ndarray) -> dict[int, list[int]]:
    """Each line's distinct offsets (>= 0), ascending."""
    out: dict[int, list[int]] = {}
    ok = offsets >= 0
    if not ok.any():
        return out
    keys = np.unique(lines[ok] * (1 << 32) + offsets[ok])
    at, off = (keys >> 32).tolist(), (keys & 0xFFFFFFFF).tolist()
    if len(set(at)) == len(at):  # one offset per line, the usual case
        return dict(zip(at, [[o] for o in off]))
    for line, o in zip(at, off):
        got = out.get(line)
        if got is None:
            out[line] = [o]
        else:
            got.append(o)
    return out


def levels(buffer: ScanBuffer, texts: list[str]) -> tuple[list[str], list[int]]:
    """(severity_text, severity_number) of each line, as parse_text reads them: the first
    TEXT_LEVEL_RE match in the line's first 80 characters ('' and 0 without one)."""
    n = len(buffer[1]) - 1
    numbers = [0] * n
    plain = plain_lines(buffer)
    pids, lines, end = _LEVELS.ends(buffer)
    start = end - _LEVEL_LEN[pids]
    # An upper-case word at w is matched from the character before it (or from 0 by `^`);
    # a bracketed word from its bracket.
    cand = np.where((pids < len(_UPPER)) & (start > 0), start - 1, start)
    keep = (cand < _LEVEL_END) & plain[lines]
    match, from_name = TEXT_LEVEL_RE.match, severity.from_name
    for line, starts in _by_line(lines[keep], cand[keep]).items():
        text = texts[line]
        for s in starts:
            m = match(text, s, _LEVEL_END)
            if m:
                numbers[line] = from_name(m.group(1) or m.group(2))
                break
    search = TEXT_LEVEL_RE.search
    for line in np.flatnonzero(~plain).tolist():
        m = search(texts[line], 0, _LEVEL_END)
        if m:
            numbers[line] = from_name(m.group(1) or m.group(2))
    name_of = severity.severity_name
    return [name_of(x) for x in numbers], numbers


def _parent_starts(buffer: ScanBuffer) -> tuple[np.ndarray, np.ndarray]:
    """(line, start within the line) of every place a traceparent id can start: where
    dashes stand 2, 35 and 52 characters after it (a numpy test over the buffer)."""
    buf, seps, _ = buffer
    dash = np.frombuffer(buf, dtype=np.uint8) == 45
    first, second, third = _PARENT_DASHES
    span = third - first
    if len(dash) <= span:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    at = dash[:-span] & dash[second - first:len(dash) - span + second - first] & dash[span:]
    starts = np.flatnonzero(at) - first
    starts = starts[starts > 0]
    lines = np.searchsorted(seps, starts, side="right") - 1
    return lines, starts - seps[lines] - 1


def trace_ids(buffer: ScanBuffer, texts: list[str]) -> tuple[list[str], list[str]]:
    """(trace_id, span_id) each line mentions, as `extract_ids` reads them ('' without)."""
    n = len(buffer[1]) - 1
    traces, spans = [""] * n, [""] * n
    plain = plain_lines(buffer)
    pids, lines, end = _IDS.ends(buffer)
    keep = plain[lines]
    pids, lines, start = pids[keep], lines[keep], (end - np.array([5, 4])[pids])[keep]
    # A mention starts at the word or at 'x-b3-' before it; matching from the word gives
    # the same id (the prefix is optional and captures nothing), so the word will do.
    is_trace = pids == 0
    kvs = _by_line(lines[is_trace], start[is_trace])
    span_kvs = _by_line(lines[~is_trace], start[~is_trace])
    plines, prel = _parent_starts(buffer)
    gate = np.zeros(n, dtype=bool)
    gate[lines[pids == 0]] = True
    keep = gate[plines] & plain[plines]
    parents = _by_line(plines[keep], prel[keep])
    none: list[int] = []
    for line, cands in kvs.items():
        t, s = ids_at(texts[line], parents.get(line, none), cands, span_kvs.get(line, none))
        if t:
            traces[line], spans[line] = t, s
    for line in np.flatnonzero(~plain).tolist():
        t, s = extract_ids(texts[line])
        if t:
            traces[line], spans[line] = t, s
    return traces, spans
