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

from codecs import utf_8_decode

import numpy as np

ScanBuffer = tuple[bytes, np.ndarray, dict[int, str]]  # (buffer, separator offsets, NUL lines)


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
    pieces = [b"\x00"]
    cursor = 0
    for start, end in sorted(_odd_lines(block)):
        value = block[start:end].decode("utf-8", "replace").rstrip("\r")
        pieces.append(block[cursor:start])
        if "\x00" in value:
            nul[block.count(b"\n", 0, start)] = value
        else:
            pieces.append(value.encode("utf-8"))
        cursor = end
    pieces.append(block[cursor:] if cursor else block)
    pieces.append(b"\x00")
    buf = b"".join(pieces).replace(b"\n", b"\x00")
    seps = np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == 0)
    return buf, seps, nul


def buffer_lines(buffer: ScanBuffer) -> list[str]:
    """The lines' values back as strings (for rules that read more than the body)."""
    buf, _, nul = buffer
    lines = buf[1:-1].decode("utf-8").split("\x00")
    for i, value in nul.items():
        lines[i] = value
    return lines
