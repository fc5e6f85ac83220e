"""A block of raw log lines as the matcher's scan buffer, with no Python string per line.

`telecorr match --format text` reads the input a block at a time. Each line's value is
`raw.decode("utf-8", "replace").rstrip("\\r")`; the matcher scans those values UTF-8 encoded
and joined by NUL. For almost every line that value's bytes are the raw bytes themselves,
so the block becomes the buffer by swapping newlines for NUL (one C call). Only lines that
differ are rewritten one by one: invalid UTF-8 (decoded with replacement), trailing carriage
returns (stripped) and lines holding a NUL themselves (scanned as '' and handed to the
matcher apart, as `RuleMatcher` does for joined strings).
"""

from __future__ import annotations

from array import array
from codecs import utf_8_decode

import hyperscan
import numpy as np

try:
    import cython  # compiled: the match callback takes C integers; plain: Cython's no-op shadow
except ImportError:  # plain Python without Cython installed (a TELECORR_PURE=1 install)
    from pipeline.correlate import cython_shadow as cython

ScanBuffer = tuple[bytes, np.ndarray, dict[int, str]]  # (buffer, separator offsets, NUL lines)
SCAN_CHUNK = 32 * 1024  # bytes per Hyperscan call


def _line_span(block: bytes, pos: int) -> tuple[int, int]:
    """(start, end) of the line of `block` holding offset `pos` (end excludes the newline)."""
    end = block.find(b"\n", pos)
    return block.rfind(b"\n", 0, pos) + 1, (len(block) if end < 0 else end)


def _odd_lines(block: bytes) -> set[tuple[int, int]]:
    """Spans of the lines whose value is not their raw bytes (found with C searches)."""
    spans: set[tuple[int, int]] = set()
    if b"\x00" in block:
        p = block.find(b"\x00")
        while p >= 0:
            spans.add(s := _line_span(block, p))
            p = block.find(b"\x00", s[1])
    if b"\r" in block:  # memchr first: searching for b"\r\n" directly is ~100x slower
        p = block.find(b"\r")
        while p >= 0:
            if p + 1 == len(block) or block[p + 1] == 10:
                spans.add(_line_span(block, p))
            p = block.find(b"\r", p + 1)
    if not block.isascii():
        view = memoryview(block)
        pos = 0
        while pos < len(block):
            try:
                utf_8_decode(view[pos:], "strict", True)
                break
            except UnicodeDecodeError as exc:
                s = _line_span(block, pos + exc.start)
                spans.add(s)
                pos = s[1] + 1
    return spans


def scan_buffer(block: bytes) -> ScanBuffer:
    """The buffer `b"\\0" + b"\\0".join(values) + b"\\0"` of the block's lines (split on
    newline, no trailing newline), the offsets of its NUL separators, and the lines that
    hold a NUL (index -> value; the buffer has '' in their place)."""
    nul: dict[int, str] = {}
    flat = block.replace(b"\n", b"\x00")
    view = memoryview(flat)
    pieces: list[bytes | memoryview] = [b"\x00"]
    cursor = 0
    for start, end in sorted(_odd_lines(block)):
        value = block[start:end].decode("utf-8", "replace").rstrip("\r")
        pieces.append(view[cursor:start])
        if "\x00" in value:
            nul[block.count(b"\n", 0, start)] = value
        else:
            pieces.append(value.encode("utf-8"))
        cursor = end
    pieces.append(view[cursor:])
    pieces.append(b"\x00")
    buf = b"".join(pieces)
    seps = np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == 0)
    return buf, seps, nul


def buffer_of(values: list[str]) -> ScanBuffer:
    """The same buffer built from values already decoded (a column of any field)."""
    buf = ("\x00" + "\x00".join(values) + "\x00").encode("utf-8", "replace")
    seps = np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == 0)
    if len(seps) == len(values) + 1:
        return buf, seps, {}
    nul = {i: v for i, v in enumerate(values) if "\x00" in v}
    joined = "\x00".join("" if "\x00" in v else v for v in values)
    buf = ("\x00" + joined + "\x00").encode("utf-8", "replace")
    return buf, np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == 0), nul


def plain_lines(buffer: ScanBuffer) -> np.ndarray:
    """Whether each line is ASCII with no NUL: there byte offsets are character offsets
    and Hyperscan's byte classes read as Python's `re` reads the text."""
    buf, seps, nul = buffer
    plain = np.ones(len(seps) - 1, dtype=bool)
    high = np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) >= 0x80)
    if len(high):
        plain[np.searchsorted(seps, high, side="right") - 1] = False
    if nul:
        plain[list(nul)] = False
    return plain


def buffer_lines(buffer: ScanBuffer) -> list[str]:
    """The lines' values back as strings (for rules that read more than the body)."""
    buf, _, nul = buffer
    lines = buf[1:-1].decode("utf-8").split("\x00")
    for i, value in nul.items():
        lines[i] = value
    return lines


def scan_chunks(db: hyperscan.Database, scratch: hyperscan.Scratch, buf: bytes, seps: np.ndarray,
                starts: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(pattern id, offset in `buf`) of every match: its end, or with `starts` its start
    (for databases compiled with HS_FLAG_SOM_LEFTMOST). `buf` holds values joined by NUL,
    `seps` the NULs' offsets. The callback only appends (the binding calls Python once per
    match); chunk bases are added afterwards in numpy."""
    # One append per match, the pattern id in the low 32 bits and the offset in the chunk
    # above it (ids are unsigned 32-bit; a chunk is ~32 KB of whole values, so this holds
    # for any value under 2 GiB).
    found = array("q")
    app = found.append
    if starts:
        @cython.locals(pid=cython.longlong, start=cython.longlong)
        def on_match(pid: int, start: int, _end: int, _flags: int, _ctx: object) -> None:
            app(start << 32 | pid)
    else:
        @cython.locals(pid=cython.longlong, end=cython.longlong)
        def on_match(pid: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            app(end << 32 | pid)

    # Scan in chunks of whole values (NUL to NUL, so anchors and matches are as in one
    # scan): Hyperscan runs 15-25 % faster per byte on cache-sized pieces here.
    step = max(1, (len(seps) - 1) * SCAN_CHUNK // len(buf))
    cuts = seps[::step].tolist()
    if cuts[-1] != seps[-1]:
        cuts.append(int(seps[-1]))
    scan, view = db.scan, memoryview(buf)
    counts = []
    for a, b in zip(cuts, cuts[1:]):
        scan(view[a:b + 1], on_match, scratch=scratch)
        counts.append(len(found))
    packed = np.frombuffer(found, dtype=np.int64)
    per_chunk = np.diff(np.array(counts, dtype=np.int64), prepend=0)
    return packed & 0xFFFFFFFF, (packed >> 32) + np.repeat(np.array(cuts[:-1], dtype=np.int64), per_chunk)
