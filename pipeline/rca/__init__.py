"""rca stage."""
