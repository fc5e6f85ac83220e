"""Secrets out of everything telecorr prints, logs or answers.

A ClickHouse DSN (`http://user:password@host:8123/db`), a Kafka SASL URL or a URL with a
`password=`/`token=` query parameter can reach a message through settings, a driver's
exception or an operator's flag. One function masks them all, so `telecorr config`, store
errors, log lines, status output and the API never show a password.
"""

from __future__ import annotations

import re

MASK = "***"
# user:password@ in any URL-like string; the user name stays (it helps to know which one).
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]*)@")
# password=… / passwd=… / token=… / secret=… as URL query parameters or key=value pairs.
_PARAM = re.compile(r"(?i)\b(?P<key>password|passwd|pwd|token|secret|access_token)=(?P<value>[^&\s;,'\"]+)")


def redact(text: str) -> str:
    """`text` with every URL password and password/token parameter replaced by ***."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    return _PARAM.sub(lambda m: f"{m['key']}={MASK}", text)
