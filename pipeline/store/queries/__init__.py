"""Every SELECT the product runs, named, one module per area.

User input reaches ClickHouse only as server-side parameters (`{name:Type}`), never spliced
into the text. Column lists come from `pipeline.store.tables`, the one definition per table.
"""
