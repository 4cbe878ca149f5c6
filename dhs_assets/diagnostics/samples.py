"""What the diagnostics read about stamp partitions: the dataset spec they were made with (recorded beside them: a
partition that does not record one is an error, never a default)."""

from dhs_core.asset_names import INJECTED_STAMPS
from dhs_core.datasets.record import common_spec
from dhs_core.datasets.spec import DatasetSpec
from dhs_core.tables import partition_dir


def stamps_spec(data_root: str, partitions: list[str]) -> DatasetSpec:
    """The one dataset spec the stamp ``partitions`` were made with (``dhs_core.datasets.record.common_spec``)."""
    return common_spec([partition_dir(data_root, INJECTED_STAMPS, p) for p in partitions])
