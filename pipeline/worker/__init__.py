"""The worker runtime without Faust: which offsets may be acknowledged (ledger), how far each
input source has got (progress), and the per-agent logic the Faust declarations in agents/
call. Everything here can be driven by a fake stream in unit tests (docs/architecture.md)."""
