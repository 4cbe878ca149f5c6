"""dhs_core: the pure library of the Dark Halo Scope data platform.

Every phase of the pipeline is a plain function here; nothing in this package imports Dagster.
"""

__version__ = "0.1.0"
