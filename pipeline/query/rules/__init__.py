"""Rule packs shipped as package data (default.yaml: the default rule pack)."""
