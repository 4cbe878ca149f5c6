"""The dataset specs as an external asset: Dagster does not write them, it records them. Each recorded version of a
spec carries its hash as the data version, so a changed spec makes everything built from it stale."""

from dagster import AssetSpec

from dhs_assets.datasets.partitions import dataset_partitions
from dhs_core.asset_names import DATASET_SPECS

dataset_specs = AssetSpec(
    DATASET_SPECS,
    group_name="datasets",
    kinds={"yaml"},
    owners=["team:dhs"],
    partitions_def=dataset_partitions,
    description=(
        "One YAML file per dataset in <data root>/datasets/ (docs/datasets.md): its selection sets, tier, grid, "
        "recipe, bank and engine settings. Recorded by dataset_specs_sensor, with the hash of the resolved spec as "
        "data version: a new spec adds a dataset partition, an edited one makes its manifests, stamps, diagnostics "
        "and report stale."
    ),
)
