"""Phase 4a in Dagster: the injection manifest, partitioned by selection set x split, and its checks."""
