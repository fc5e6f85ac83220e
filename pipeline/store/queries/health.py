"""The throwaway read that takes what a stopped query left on chDB's handle."""

from __future__ import annotations

RESYNC = "SELECT 1"
