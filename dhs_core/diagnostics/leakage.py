"""Split leakage across every stamp: no galaxy, brick or sky region (the split's unit) in two splits."""

from __future__ import annotations

from dhs_core.tables import connect

SPLIT_KEYS = ("row_id", "brickname", "region_id")  # galaxy, brick, sky block


def split_leakage(source: str) -> dict:
    """``source``: a DuckDB relation expression over the stamps (e.g. ``read_parquet('<root>/injected_stamps/*/part-*.parquet')``).
    Per key, how many of its values occur in more than one ``region_split`` (must be 0), and examples."""
    result = {}
    with connect() as con:
        for key in SPLIT_KEYS:
            rows = con.sql(
                f"SELECT {key}, list(DISTINCT region_split ORDER BY region_split) AS splits FROM {source} "
                f"GROUP BY {key} HAVING count(DISTINCT region_split) > 1 ORDER BY {key}"
            ).fetchall()
            result[key] = {
                "in_two_splits": len(rows),
                "examples": [f"{value}: {', '.join(splits)}" for value, splits in rows[:5]],
            }
        result["splits"] = [
            s for (s,) in con.sql(f"SELECT DISTINCT region_split FROM {source} ORDER BY 1").fetchall()
        ]
    result["passed"] = all(result[k]["in_two_splits"] == 0 for k in SPLIT_KEYS)
    return result
