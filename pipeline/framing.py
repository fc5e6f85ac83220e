"""Length-delimited protobuf streams: each message prefixed by its size as a base-128 varint.

The simulator writes OTLP protobuf files this way and `telecorr replay` reads them back.
"""

from __future__ import annotations

from collections.abc import Iterator


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
