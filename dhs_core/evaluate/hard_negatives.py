"""Hard negatives: real galaxies that look like lenses and are not (rings, spirals, mergers, edge-on discs, close
pairs), cut like controls and labelled 0 in evaluation, so that a finder's false-positive rate is measured where it
errs, not only on the LRG controls.

Two ways in:

- **A user catalogue** (:func:`read_negative_catalog`; CSV, Parquet or FITS): columns ``ra``, ``dec`` (deg) and
  ``class`` (free text, e.g. ``ring``, ``spiral``, ``merger``, ``edge_on``), optionally ``name``. The **Galaxy Zoo
  DECaLS** volunteer catalogue (Walmsley et al. 2022, ``gz_decals_volunteers_*``) is read as it is published: its
  ``iauname``, ``ra``, ``dec`` and vote fractions give the class (:data:`GZ_DECALS_CLASSES`, first match wins):
  ``merger`` when ``merging_merger_fraction + merging_major-disturbance_fraction >= 0.6``; ``edge_on`` when
  ``smooth-or-featured_featured-or-disk_fraction >= 0.5`` and ``disk-edge-on_yes_fraction >= 0.8``; ``spiral`` when
  featured ``>= 0.5``, ``disk-edge-on_no_fraction >= 0.5`` and ``has-spiral-arms_yes_fraction >= 0.8``. Its other
  galaxies (smooth, uncertain) are no look-alike: counted, not kept.
- **A proxy from the sweeps** (:func:`proxy_negatives`, when no catalogue is given), by Tractor shape and colour in
  ``sweep_lrgs`` (every galaxy that passes the base cuts, not only LRGs), brighter than ``rmag_max``:
  ``close_pair``, a galaxy with a companion of fainter or equal r magnitude, also brighter than ``rmag_max``,
  ``pair_separation_arcsec`` away on the same brick (a companion at arc radii looks like a counter-image; pairs
  across a brick edge are missed); ``edge_on_disc``, a disc (EXP, or SER with n < 2) of ``shape_r >= disc_r_min``
  with axis ratio ``b/a <= edge_on_q_max``; ``blue_disc``, any other such disc with ``g - r <= blue_gr_max`` (spiral
  arms and star-forming knots). First match in that order. Each class keeps at most ``max_per_class`` objects, the
  first by a stable hash of their name (``<brickname>-<objid>``): the same on every run.

Every object within the known-lens radius of a known lens or candidate is left out (a real lens labelled 0 would bias
the false-positive rate up), counted per class. The rest are cut through the cutout sources like the anchors
(``dhs_core.evaluate.real_stamps``), kept with their status, ``task_id`` = ``negative/<name>`` and ``label`` 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dhs_core.conventions import STAMP_SIZE
from dhs_core.errors import ConfigError, InputFileError, MissingColumnError
from dhs_core.evaluate.known_lenses import KNOWN_LENS_RADIUS_ARCSEC, exclude_known_lenses
from dhs_core.evaluate.real_stamps import cut_objects, locate, stamp_columns
from dhs_core.hashing import spark_xxhash64
from dhs_core.tables import connect

NEGATIVE_ID_PREFIX = "negative/"
OBJECT_SCHEMA = pa.schema(
    [("name", pa.string()), ("ra", pa.float64()), ("dec", pa.float64()), ("class", pa.string())]
)
GZ_DECALS_ID = "iauname"
# (class, {vote-fraction column: minimum}, extra sum condition): the first class whose every condition holds
GZ_FEATURED = "smooth-or-featured_featured-or-disk_fraction"
GZ_DECALS_CLASSES = (
    ("merger", {}, (("merging_merger_fraction", "merging_major-disturbance_fraction"), 0.6)),
    ("edge_on", {GZ_FEATURED: 0.5, "disk-edge-on_yes_fraction": 0.8}, None),
    (
        "spiral",
        {GZ_FEATURED: 0.5, "disk-edge-on_no_fraction": 0.5, "has-spiral-arms_yes_fraction": 0.8},
        None,
    ),
)
PROXY_CLASSES = ("close_pair", "edge_on_disc", "blue_disc")
PROXY_COLUMNS = ("brickname", "objid", "ra", "dec", "type", "sersic", "shape_r", "shape_e1", "shape_e2")


@dataclass(frozen=True)
class HardNegativeConfig:
    """``catalog``: a user catalogue of look-alikes (path; empty: the sweep proxy); ``max_per_class``: objects kept per
    class (by a stable hash of the name); the proxy's cuts: ``rmag_max`` (AB, r), ``disc_r_min_arcsec`` (Tractor
    ``shape_r``, arcsec), ``edge_on_q_max`` (axis ratio b/a), ``blue_gr_max`` (g - r, AB),
    ``pair_separation_arcsec`` (min, max; arcsec); ``known_lens_radius_arcsec``: objects this near a known lens are left
    out. See the module's docstring."""

    catalog: str = ""
    max_per_class: int = 200
    rmag_max: float = 20.5
    disc_r_min_arcsec: float = 1.5
    edge_on_q_max: float = 0.35
    blue_gr_max: float = 0.8
    pair_separation_arcsec: tuple[float, float] = (2.0, 8.0)
    known_lens_radius_arcsec: float = KNOWN_LENS_RADIUS_ARCSEC

    def __post_init__(self):
        if self.max_per_class < 1:
            raise ConfigError("hard_negatives.max_per_class", self.max_per_class, "an integer >= 1")
        low, high = self.pair_separation_arcsec
        if not 0 <= low < high:
            raise ConfigError(
                "hard_negatives.pair_separation_arcsec", list(self.pair_separation_arcsec), "0 <= min < max"
            )
        if not 0 < self.edge_on_q_max < 1:
            raise ConfigError("hard_negatives.edge_on_q_max", self.edge_on_q_max, "between 0 and 1")

    @property
    def selection(self) -> str:
        """How the objects were chosen: ``catalog:<file name>`` or ``sweep_proxy``."""
        return f"catalog:{os.path.basename(self.catalog)}" if self.catalog else "sweep_proxy"


def _read_any(path: str) -> pa.Table:
    if not os.path.exists(path):
        raise InputFileError(path, "no such hard-negative catalogue")
    lower = path.lower()
    try:
        if lower.endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if lower.endswith((".fits", ".fit", ".fits.gz")):
            from astropy.table import Table

            return pa.Table.from_pandas(Table.read(path).to_pandas(), preserve_index=False)
        import pyarrow.csv as pcsv

        return pcsv.read_csv(path)
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        raise InputFileError(path, f"not a readable catalogue: {exc}") from None


def read_negative_catalog(path: str) -> pa.Table:
    """A catalogue of look-alikes as ``OBJECT_SCHEMA`` rows (``name``, ``ra``, ``dec`` in deg, ``class``); Galaxy Zoo
    DECaLS rows with no look-alike class get a null ``class``. A row without a position, with RA outside [0, 360) or
    Dec outside [-90, 90], or (plain format) without a class is an error naming the file and row (1 = first data
    row)."""
    table = _read_any(path)
    columns = {c.lower(): c for c in table.column_names}
    gz = GZ_DECALS_ID in columns and "class" not in columns
    required = ("ra", "dec", *(c for c in _gz_columns() if gz), *(() if gz else ("class",)))
    missing = [c for c in required if c not in columns]
    if missing:
        raise MissingColumnError(path, missing, table.column_names)
    ra, dec = (
        pc.cast(table[columns[c]], pa.float64()).to_numpy(zero_copy_only=False).astype(float)
        for c in ("ra", "dec")
    )
    bad = ~(np.isfinite(ra) & np.isfinite(dec) & (ra >= 0) & (ra < 360) & (np.abs(dec) <= 90))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputFileError(
            path, f"row {row + 1}: RA {ra[row]} / Dec {dec[row]} outside [0, 360) / [-90, 90] deg"
        )
    if gz:
        classes = gz_decals_classes(table.rename_columns([c.lower() for c in table.column_names]))
        names = pc.cast(table[columns[GZ_DECALS_ID]], pa.string()).to_pylist()
    else:
        classes = [None if c is None else str(c).strip() for c in table[columns["class"]].to_pylist()]
        empty = [i for i, c in enumerate(classes) if not c]
        if empty:
            raise InputFileError(path, f"row {empty[0] + 1}: no class")
        names = (
            pc.cast(table[columns["name"]], pa.string()).to_pylist()
            if "name" in columns
            else [f"{os.path.basename(path)}:{i + 1}" for i in range(table.num_rows)]
        )
    return pa.table(
        {"name": names, "ra": ra, "dec": dec, "class": pa.array(classes, pa.string())}, schema=OBJECT_SCHEMA
    )


def _gz_columns() -> list[str]:
    needed = [GZ_DECALS_ID]
    for _, minima, total in GZ_DECALS_CLASSES:
        needed += [c for c in minima if c not in needed]
        needed += [c for c in (total[0] if total else ()) if c not in needed]
    return needed


def gz_decals_classes(table: pa.Table) -> list[str | None]:
    """The look-alike class of each Galaxy Zoo DECaLS row (lower-case column names) by :data:`GZ_DECALS_CLASSES`,
    None for none; a missing (NaN) vote fraction fails its condition."""

    def fraction(column: str) -> np.ndarray:
        return np.nan_to_num(
            pc.cast(table[column], pa.float64()).to_numpy(zero_copy_only=False).astype(float), nan=-1.0
        )

    chosen = np.full(table.num_rows, None, dtype=object)
    for name, minima, total in GZ_DECALS_CLASSES:
        passes = np.ones(table.num_rows, bool)
        for column, minimum in minima.items():
            passes &= fraction(column) >= minimum
        if total:
            passes &= sum(np.maximum(fraction(c), 0) for c in total[0]) >= total[1]
        chosen[passes & (chosen == None)] = name  # noqa: E711 -- elementwise on an object array
    return chosen.tolist()


def proxy_negatives(galaxies: pa.Table | str, config: HardNegativeConfig = HardNegativeConfig()) -> pa.Table:
    """The sweep proxy's look-alikes (``OBJECT_SCHEMA``; see the module's docstring) among ``galaxies``: a
    ``sweep_lrgs`` table or a DuckDB source over its Parquet files (``PROXY_COLUMNS`` plus ``gmag``, ``rmag``).
    Sorted by class then name; every class at most ``config.max_per_class``."""
    low, high = config.pair_separation_arcsec
    with connect() as con:
        if isinstance(galaxies, pa.Table):
            con.register("proxy_input", galaxies)
            galaxies = "proxy_input"
        names = {r[0] for r in con.sql(f"DESCRIBE SELECT * FROM {galaxies}").fetchall()}
        missing = [c for c in (*PROXY_COLUMNS, "gmag", "rmag") if c not in names]
        if missing:
            raise MissingColumnError("sweep_lrgs", missing, sorted(names))
        rows = con.sql(f"""
            WITH bright AS (
                SELECT brickname, objid, ra, dec, upper(trim(type)) AS type, sersic, shape_r, shape_e1, shape_e2,
                       gmag, rmag, brickname || '-' || CAST(objid AS VARCHAR) AS name
                FROM {galaxies} WHERE rmag < {float(config.rmag_max)}
            ),
            pairs AS (
                SELECT DISTINCT a.name FROM bright a JOIN bright b
                  ON a.brickname = b.brickname AND a.objid <> b.objid
                 AND (b.rmag > a.rmag OR (b.rmag = a.rmag AND b.objid > a.objid))
                WHERE 3600 * sqrt(pow((a.ra - b.ra) * cos(radians(a.dec)), 2) + pow(a.dec - b.dec, 2))
                      BETWEEN {float(low)} AND {float(high)}
            )
            SELECT bright.name, ra, dec,
                   CASE WHEN pairs.name IS NOT NULL THEN 'close_pair'
                        WHEN disc AND q <= {float(config.edge_on_q_max)} THEN 'edge_on_disc'
                        WHEN disc AND gmag - rmag <= {float(config.blue_gr_max)} THEN 'blue_disc' END AS class
            FROM (
                SELECT *, (type = 'EXP' OR (type = 'SER' AND sersic < 2))
                          AND shape_r >= {float(config.disc_r_min_arcsec)} AS disc,
                          (1 - sqrt(shape_e1 * shape_e1 + shape_e2 * shape_e2))
                          / (1 + sqrt(shape_e1 * shape_e1 + shape_e2 * shape_e2)) AS q
                FROM bright
            ) bright LEFT JOIN pairs ON bright.name = pairs.name
        """).to_arrow_table()
    rows = rows.filter(pc.is_valid(rows["class"]))
    return _first_per_class(rows.cast(OBJECT_SCHEMA), config.max_per_class)


def _first_per_class(objects: pa.Table, max_per_class: int) -> pa.Table:
    """At most ``max_per_class`` rows per class, the first by a stable hash of the name; sorted by class, name."""
    order = np.lexsort(
        (spark_xxhash64(objects["name"].combine_chunks()), np.array(objects["class"].to_pylist(), dtype=str))
    )
    classes = np.array(objects["class"].to_pylist(), dtype=str)[order]
    rank = np.zeros(len(order), np.int64)
    for i in range(1, len(order)):
        rank[i] = rank[i - 1] + 1 if classes[i] == classes[i - 1] else 0
    kept = objects.take(pa.array(order[rank < max_per_class]))
    return kept.sort_by([("class", "ascending"), ("name", "ascending")])


def negative_objects(
    galaxies: pa.Table | str, config: HardNegativeConfig = HardNegativeConfig()
) -> tuple[pa.Table, int]:
    """``(objects, unclassified)``: the look-alikes of the configured catalogue (or of the sweep proxy over
    ``galaxies``), at most ``max_per_class`` per class, and how many catalogue rows had no look-alike class."""
    if not config.catalog:
        return proxy_negatives(galaxies, config), 0
    catalog = read_negative_catalog(config.catalog)
    classified = catalog.filter(pc.is_valid(catalog["class"]))
    names = classified["name"].to_pylist()
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise InputFileError(config.catalog, f"name {doubled[0]!r} listed {names.count(doubled[0])} times")
    return _first_per_class(classified, config.max_per_class), catalog.num_rows - classified.num_rows


def hard_negative_stamps(
    objects: pa.Table,
    bricks: pa.Table,
    source,
    lenses: pa.Table,
    radius_arcsec: float = KNOWN_LENS_RADIUS_ARCSEC,
    selection: str = "",
    size: int = STAMP_SIZE,
) -> tuple[pa.Table, pa.Table]:
    """``(stamps, excluded)``: a stamp of each of ``objects`` (``OBJECT_SCHEMA``) farther than ``radius_arcsec``
    from every known lens in ``lenses``, cut by ``source`` on the survey of ``bricks``, with ``task_id``
    (``negative/<name>``), ``label`` 0, ``selection`` and the stamps' pixel and status columns (every object kept
    with its status); and the objects left out near a known lens (with ``known_lens`` and its separation)."""
    kept, excluded = exclude_known_lenses(objects, lenses, radius_arcsec)
    located = locate(kept, bricks)
    cutouts = cut_objects(source, located, size)
    table = located.drop_columns(["neighbours"])
    n = table.num_rows
    table = table.add_column(
        0, "task_id", pa.array([NEGATIVE_ID_PREFIX + name for name in table["name"].to_pylist()], pa.string())
    )
    table = table.append_column("label", pa.array(np.zeros(n, np.int8)))
    table = table.append_column("selection", pa.array([selection] * n, pa.string()))
    for name, column in stamp_columns(cutouts, size).items():
        table = table.append_column(name, column)
    return table.sort_by("task_id"), excluded
