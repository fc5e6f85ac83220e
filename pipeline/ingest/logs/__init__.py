"""Log parsing: formats (JSON, logfmt, RFC 5424/3164 syslog, container wrappers, free text),
time stamps, severities and trace ids, normalised onto `LogRecord` fields."""

from pipeline.ingest.logs.formats import FORMATS, Parsed
from pipeline.ingest.logs.parse import parse_line, parse_logs
from pipeline.ingest.logs.traceids import extract_ids, normalize_span_id, normalize_trace_id

__all__ = ["FORMATS", "Parsed", "extract_ids", "normalize_span_id", "normalize_trace_id",
           "parse_line", "parse_logs"]
