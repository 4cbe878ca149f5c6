"""dhs_assets: the Dagster layer (assets, checks, partitions, resources, sensors) over dhs_core."""
