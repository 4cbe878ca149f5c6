"""Dataset specs for asset tests: write one into a data root (``register_specs`` registers them as the sensor does)."""

from pathlib import Path

from dhs_core.datasets.spec import specs_folder


def write_spec(data_root, name: str, body: str) -> Path:
    """Write ``<data_root>/datasets/<name>.yaml`` with ``name: <name>`` and the YAML ``body``."""
    folder = Path(specs_folder(str(data_root)))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\n{body}\n")
    return path
