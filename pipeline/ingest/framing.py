"""How input is framed: length-delimited protobuf streams, JSON documents, gzip.

Protobuf: each message prefixed by its size as a base-128 varint (the simulator writes OTLP
protobuf files this way and `telecorr replay` reads them back). JSON: one document, JSON
lines or documents back to back, told apart by `json_documents`, for files and for messages.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator

import orjson


class FramingError(ValueError):
    """The stream is cut short or malformed; the message gives the byte position."""


def varint(n: int) -> bytes:
    """Protobuf base-128 varint, the length prefix of a delimited message stream."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_delimited(data: bytes, where: str = "stream") -> Iterator[bytes]:
    """Split a delimited stream back into its messages."""
    pos = 0
    while pos < len(data):
        size = shift = 0
        while True:
            if pos >= len(data) or shift > 63:
                raise FramingError(f"{where}: truncated length prefix at byte {pos}")
            b = data[pos]
            pos += 1
            size |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        if pos + size > len(data):
            raise FramingError(f"{where}: message at byte {pos} claims {size} bytes, the data ends first")
        yield data[pos:pos + size]
        pos += size


class JSONFramingError(ValueError):
    """Not one JSON document, nor JSON lines, nor documents back to back; says where it broke."""


def json_documents(data: bytes) -> list[tuple[object, bytes]]:
    """Every JSON document in `data` with its own bytes: one whole document (pretty-printed or
    not), one per line (JSON lines, the Collector's file exporter), or documents written back
    to back. The common case, one document, costs one parse."""
    try:
        return [(orjson.loads(data), data)]
    except orjson.JSONDecodeError as exc:
        whole = exc
    lines = [ln for ln in data.split(b"\n") if ln.strip()]
    if len(lines) > 1:
        try:
            return [(orjson.loads(ln), ln) for ln in lines]
        except orjson.JSONDecodeError:
            pass
    try:
        return _back_to_back(data)
    except ValueError:
        raise JSONFramingError(f"invalid JSON: {whole}") from None


def _back_to_back(data: bytes) -> list[tuple[object, bytes]]:
    """Documents one after another (e.g. several pretty-printed requests in one file)."""
    text = data.decode("utf-8")
    decoder = json.JSONDecoder()
    out, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            break
        _, end = decoder.raw_decode(text, pos)
        chunk = text[pos:end].encode()
        out.append((orjson.loads(chunk), chunk))  # orjson's reading (big ints, NaN rules) throughout
        pos = end
    if len(out) < 2:
        raise ValueError("not several documents")
    return out


def gunzip(data: bytes, limit: int, where: str = "message") -> bytes:
    """`data` decompressed if it is gzip (magic 1f 8b), at most `limit` bytes out (a small
    compressed message can expand to gigabytes); FramingError if broken or too large."""
    if data[:2] != b"\x1f\x8b":
        return data
    d = zlib.decompressobj(wbits=31)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as exc:
        raise FramingError(f"{where}: broken gzip data ({exc})") from None
    if len(out) > limit or d.unconsumed_tail:
        raise FramingError(f"{where}: gzip data expands past {limit} bytes")
    if not d.eof:
        raise FramingError(f"{where}: gzip data is cut short")
    return out
