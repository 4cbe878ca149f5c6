"""Asset metadata that lets the Dagster UI say what a table holds: rows, columns and types, path."""

from __future__ import annotations

import pyarrow as pa
from dagster import MetadataValue, TableColumn, TableSchema


def table_metadata(table: pa.Table, path: str) -> dict:
    schema = TableSchema(columns=[TableColumn(name=f.name, type=str(f.type)) for f in table.schema])
    return {
        "dagster/row_count": table.num_rows,
        "dagster/column_schema": schema,
        "path": MetadataValue.path(path),
    }
