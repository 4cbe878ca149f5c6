"""Phase 4c in Dagster: injected stamps per manifest partition, and their checks."""
