"""The catalogue phases: LRG selection (Phase 2), regions (3a), region selection (3b), splits, parent sample (3c)."""
