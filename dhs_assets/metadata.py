"""Asset metadata that lets the Dagster UI say what a table holds: rows, columns and types, path."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, MetadataValue, TableColumn, TableSchema
from dagster._core.definitions.data_version import DATA_VERSION_TAG


def table_metadata(table: pa.Table, path: str) -> dict:
    schema = TableSchema(columns=[TableColumn(name=f.name, type=str(f.type)) for f in table.schema])
    return {
        "dagster/row_count": table.num_rows,
        "dagster/column_schema": schema,
        "path": MetadataValue.path(path),
    }


def latest_metadata(instance: DagsterInstance, asset_key: AssetKey, partition: str | None = None) -> dict:
    """Metadata values of the latest materialization of an asset (of one partition); empty if none."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition] if partition else None), limit=1
    ).records
    if not records:
        return {}
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def plain(value):
    """A metadata value Dagster can store: numpy scalars as Python ones, anything else not scalar as text."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return value if isinstance(value, str) else str(value)


def recorded_data_version(instance: DagsterInstance, asset_key: AssetKey, partition: str) -> str | None:
    """The data version last recorded for a partition of an asset (an external asset's, recorded by its sensor);
    None if never recorded."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
    ).records
    return records[0].asset_materialization.tags.get(DATA_VERSION_TAG) if records else None
