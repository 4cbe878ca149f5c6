"""The source bank in Dagster: the ``source_bank`` asset and its checks."""
