"""The internal topics' wire format: re-keying spans and logs by trace, checking what
is read back, and what a dead-lettered message becomes."""
