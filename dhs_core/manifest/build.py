"""Phase 4a: build the injection manifest of one (selection set, split) from the parent sample.

One row per task: the galaxy (from the parent sample, whose split it keeps: splits are never
re-assigned per task), its configuration or ``CONTROL``, its replicate and every random draw the
injection needs (``dhs_core.manifest.draws``), so that Phase 4c is a pure function of a row.

Tiers (the seed §4): ``debug`` and ``grid`` sample ``n_per_config`` galaxies per (set, split) and then
cross them with every configuration (galaxies first: the original crossed first and made 325 M rows);
a control galaxy gets one ``CONTROL`` row instead of one per configuration (identical stamps otherwise).
``train`` samples ``n_total_train_per_split`` galaxies and gives each one configuration
(``config_index``). Unpaired controls (default): controls are other galaxies of the same stratified
pool; paired: every injected galaxy also appears as its own control. Every row is crossed with
``replicates`` replicates (same galaxy, configuration and control flag; different draws).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dhs_core.catalog.selection import STRATEGY_NAMES, parse_selection_key
from dhs_core.catalog.splits import SPLITS
from dhs_core.conventions import AB_ZEROPOINT, BANDS, STAMP_SIZE
from dhs_core.errors import ConfigError, MissingColumnError
from dhs_core.inject.lens import q_phi_to_ellipticity
from dhs_core.inject.metrics import SNR_DEFINITIONS
from dhs_core.manifest import draws
from dhs_core.manifest.grids import CONTROL_CONFIG_ID, NAMED_GRIDS, InjectionGrid, grid_from_config
from dhs_core.manifest.sampling import config_index, control_flags, stratified_sample, stratum_bins

TIERS = ("debug", "grid", "train")
TIER_DEFAULTS = {  # grid, galaxies per (set, split) and control fraction per tier (the seed's defaults)
    "debug": ("grid_small", 5, 0.0),
    "grid": ("grid_medium", 25, 0.10),
    "train": ("grid_small", 200_000, 0.50),
}
PIPELINE_VERSION = "dhs-manifest-1"
INPUT_COLUMNS = (
    "row_id",
    "brickname",
    "objid",
    "ra",
    "dec",
    "zmag",
    "rmag",
    "w1mag",
    "rz",
    "zw1",
    "shape_e1",
    "shape_e2",
    "region_id",
    "split",
    *(f"psfsize_{b}" for b in BANDS),
    *(f"psfdepth_mag5_{b}" for b in BANDS),
    "brick_psfsize_g",
    "brick_psfsize_r",
    "brick_psfsize_z",
    "brick_psfdepth_mag5_r",
    "brick_ebv",
)
ARC_REACH_SOURCE_RADII = (
    3.0  # the arc reach counts this many source half-light radii beyond the image positions
)


@dataclass(frozen=True)
class ManifestConfig:
    """Everything that shapes a manifest (recorded in the asset's metadata).

    ``tier``; ``grid`` (a name, or a user grid mapping; default per tier); ``n_galaxies`` per (set,
    split) (default per tier: 5, 25, 200,000); ``control_frac`` (default per tier: 0, 0.10, 0.50) with
    ``legacy_signed_mod``; ``unpaired_controls``; ``replicates``; ``seed`` (the split seed of every hash);
    ``beta_max_factor`` (source offsets within that times theta_E); ``lens_shape``; ``colour_model``
    (``red`` observer-frame or the original's ``blue``); ``source_kind`` (``template`` from a bank of
    ``n_templates``, or ``sersic`` with index ``src_n``); ``brightness_mode`` (``dmag`` or ``snr`` with
    ``snr_bins`` rows of (low, high, weight)); ``snr_definition``, the S/N the targets are in: ``peak`` (the
    maximum per-pixel S/N of the noiseless arc, the original's ``arc_snr``, which the seed's bins are written in)
    or ``integrated`` (matched-filter S/N over the arc); ``stamp_size`` (pixels) and ``bandset``.
    """

    tier: str = "train"
    grid: InjectionGrid | None = None
    n_galaxies: int | None = None
    control_frac: float | None = None
    legacy_signed_mod: bool = False
    unpaired_controls: bool = True
    replicates: int = 2
    seed: int = 1337
    beta_max_factor: float = 0.8
    lens_shape: draws.LensShapeModel = field(default_factory=draws.LensShapeModel)
    colour_model: str = "red"
    source_kind: str = "template"
    n_templates: int = 20_000
    src_n: float = 1.0
    brightness_mode: str = "dmag"
    snr_bins: tuple = draws.DEFAULT_SNR_BINS
    snr_definition: str = "peak"
    stamp_size: int = STAMP_SIZE
    bandset: str = "".join(BANDS)

    @classmethod
    def for_tier(
        cls, tier: str = "train", *, grid=None, n_galaxies=None, control_frac=None, **settings
    ) -> ManifestConfig:
        """The configuration of a ``tier``: ``grid`` (a name, a user grid mapping or an ``InjectionGrid``),
        ``n_galaxies`` and ``control_frac`` take the tier's defaults (``TIER_DEFAULTS``) where None; ``settings``: the
        other fields."""
        if tier not in TIERS:
            raise ConfigError("manifest.tier", tier, f"one of {TIERS}")
        default_grid, default_n, default_frac = TIER_DEFAULTS[tier]
        return cls(
            tier=tier,
            grid=grid_from_config(default_grid if grid is None else grid),
            n_galaxies=default_n if n_galaxies is None else n_galaxies,
            control_frac=default_frac if control_frac is None else control_frac,
            **settings,
        )

    def __post_init__(self):
        if self.tier not in TIERS:
            raise ConfigError("manifest.tier", self.tier, f"one of {TIERS}")
        unresolved = [
            name
            for name, kind in (("grid", InjectionGrid), ("n_galaxies", int), ("control_frac", float | int))
            if not isinstance(getattr(self, name), kind)
        ]
        if unresolved:
            raise ConfigError(
                "manifest." + ", ".join(unresolved),
                [getattr(self, n) for n in unresolved],
                "resolved values: build it with ManifestConfig.for_tier, which fills the tier's defaults",
            )
        if self.n_galaxies < 1:
            raise ConfigError("manifest.n_galaxies", self.n_galaxies, ">= 1")
        if not 0 <= self.control_frac < 1:
            raise ConfigError("manifest.control_frac", self.control_frac, "in [0, 1)")
        if self.replicates < 1:
            raise ConfigError("manifest.replicates", self.replicates, ">= 1")
        if not self.beta_max_factor > 0:
            raise ConfigError("manifest.beta_max_factor", self.beta_max_factor, "> 0")
        if self.colour_model not in draws.COLOUR_MODELS:
            raise ConfigError(
                "manifest.colour_model", self.colour_model, f"one of {sorted(draws.COLOUR_MODELS)}"
            )
        if self.source_kind not in ("template", "sersic"):
            raise ConfigError("manifest.source_kind", self.source_kind, "template or sersic")
        if self.brightness_mode not in ("dmag", "snr"):
            raise ConfigError("manifest.brightness_mode", self.brightness_mode, "dmag or snr")
        if not 0.3 <= self.src_n <= 8:
            raise ConfigError("manifest.src_n", self.src_n, "in [0.3, 8]")
        draws.snr_targets(np.zeros(1, np.int64), self.snr_bins)  # validates the table
        if self.snr_definition not in SNR_DEFINITIONS:
            raise ConfigError("manifest.snr_definition", self.snr_definition, f"one of {SNR_DEFINITIONS}")
        if self.stamp_size < 1 or not self.bandset:
            raise ConfigError(
                "manifest.stamp", (self.stamp_size, self.bandset), "size >= 1 pixel and at least one band"
            )

    @property
    def experiment_id(self) -> str:
        """``{tier}_stamp{size}_bands{bandset}_{grid}`` (the original's, without its doubled "grid")."""
        return f"{self.tier}_stamp{self.stamp_size}_bands{self.bandset}_{self.grid.name}"

    @property
    def arc_reach_arcsec(self) -> float:
        """How far from the lens (arcsec) the grid's arcs can put light: images lie within theta_E + beta of the lens
        (beta <= ``beta_max_factor`` theta_E), plus ``ARC_REACH_SOURCE_RADII`` of the largest source size. The stamps
        step judges every galaxy's masks within this radius, controls and injections alike."""
        grid = self.grid
        return max(grid.theta_e) * (1 + self.beta_max_factor) + ARC_REACH_SOURCE_RADII * max(grid.src_reff)

    @property
    def expected_control_fraction(self) -> float:
        """Fraction of rows that should be controls: ``control_frac`` of the galaxies in unpaired train
        manifests, one half in paired ones; in debug/grid a control galaxy has one row against n_cfg."""
        if self.tier == "train":
            return self.control_frac if self.unpaired_controls else 0.5
        n_cfg, f = self.grid.size, self.control_frac
        return f / (f + (1 - f) * n_cfg)

    def record(self) -> dict:
        """The configuration as plain values (JSON-ready), for metadata; ``from_record`` reads it back."""
        out = asdict(self)
        out["grid"] = self.grid.name if NAMED_GRIDS.get(self.grid.name) == self.grid else asdict(self.grid)
        out["snr_bins"] = [list(b) for b in self.snr_bins]
        return out

    @classmethod
    def from_record(cls, record: dict) -> ManifestConfig:
        values = dict(record)
        values["lens_shape"] = draws.LensShapeModel(**values["lens_shape"])
        values["snr_bins"] = tuple(tuple(b) for b in values["snr_bins"])
        return cls.for_tier(**values)


def _numpy(table: pa.Table, name: str, dtype=np.float64) -> np.ndarray:
    return table[name].to_numpy(zero_copy_only=False).astype(dtype, copy=False)


def _task_rows(
    galaxies: pa.Table, split: str, config: ManifestConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Galaxy index, configuration index (-1: control) and replicate of every task row, in order."""
    row_id = _numpy(galaxies, "row_id", np.int64)
    n_cfg = config.grid.size
    control = (
        control_flags(
            row_id,
            galaxies["brickname"],
            split,
            config.seed,
            config.control_frac,
            config.legacy_signed_mod,
            config.tier,
        )
        if config.control_frac > 0
        else np.zeros(len(row_id), bool)
    )
    index = np.arange(len(row_id))
    if config.tier == "train" and config.unpaired_controls:
        galaxy, cfg = index, np.where(control, -1, config_index(row_id, n_cfg, config.seed))
    elif config.tier == "train":  # paired: every galaxy injected once and shown once as its own control
        galaxy = np.repeat(index, 2)
        cfg = np.ravel(np.column_stack([config_index(row_id, n_cfg, config.seed), np.full(len(index), -1)]))
    else:
        per_galaxy = np.where(control, 1, n_cfg)
        galaxy = np.repeat(index, per_galaxy)
        starts = np.cumsum(per_galaxy) - per_galaxy  # each galaxy's first row (none for no galaxy)
        cfg = np.where(control[galaxy], -1, np.arange(len(galaxy)) - np.repeat(starts, per_galaxy))
    replicate = np.tile(np.arange(config.replicates, dtype=np.int32), len(galaxy))
    return np.repeat(galaxy, config.replicates), np.repeat(cfg, config.replicates), replicate


def build_manifest(
    galaxies: pa.Table,
    selection_set_id: str,
    partition_key: str,
    split: str,
    psf_edges: np.ndarray,
    depth_edges: np.ndarray,
    config: ManifestConfig,
    template_owners: np.ndarray | None = None,
) -> pa.Table:
    """The manifest of one (selection set, split).

    ``galaxies``: the parent-sample rows of the split in the set (see ``split_manifests``), in any order (the
    output is in (brickname, objid) order); ``psf_edges`` (arcsec) and ``depth_edges`` (AB mag): quartile edges of brick PSF
    size r and 5-sigma depth r over the quality-passing bricks (``stratum_edges``); ``template_owners``:
    the split index of each template of the source bank (its ``split`` column; by default the split
    ``template_splits(n_templates, seed)`` gives).

    Stages: check the input, choose the galaxies (stratified), lay out the task rows (galaxy x configuration x
    replicate), look up each row's configuration, draw its frozen random numbers, assemble the columns.
    """
    _check_parent_rows(galaxies, split)
    strategy, mode = parse_selection_key(partition_key)
    galaxies, psf_bin, depth_bin = _choose_galaxies(galaxies, psf_edges, depth_edges, config)
    galaxy, cfg, replicate = _task_rows(galaxies, split, config)
    configuration = _configurations(cfg, config.grid)
    rows = galaxies.take(galaxy)
    row_id = _numpy(rows, "row_id", np.int64)
    seeds = draws.task_seeds(selection_set_id, split, row_id, configuration.config_id, replicate, config.seed)
    drawn = _frozen_draws(seeds, rows, configuration, split, config, template_owners)
    n = len(seeds)

    def constant(value, type_):
        if type_ == pa.string():
            return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value], type_))
        return pa.repeat(pa.scalar(value, type_), n)

    control = configuration.control
    columns = {
        "task_id": _task_ids(selection_set_id, split, row_id, configuration.config_id, replicate),
        "experiment_id": constant(config.experiment_id, pa.string()),
        "tier": constant(config.tier, pa.string()),
        "selection_set_id": constant(selection_set_id, pa.string()),
        "selection_strategy": constant(STRATEGY_NAMES[strategy], pa.string()),
        "ranking_mode": constant(mode, pa.string()),
        "region_id": rows["region_id"],
        "region_split": rows["split"],
        "row_id": rows["row_id"],
        "brickname": rows["brickname"],
        "objid": rows["objid"],
        "ra": rows["ra"],
        "dec": rows["dec"],
        "zmag": rows["zmag"],
        "rmag": rows["rmag"],
        "w1mag": rows["w1mag"],
        "rz": rows["rz"],
        "zw1": rows["zw1"],
        # the galaxy's own PSF FWHM (arcsec) and 5-sigma point-source depth (AB mag) from the sweeps; the brick's
        # medians beside them (the engine's fallback and the strata)
        **{f"psfsize_{b}": rows[f"psfsize_{b}"] for b in BANDS},
        **{f"psfdepth_mag5_{b}": rows[f"psfdepth_mag5_{b}"] for b in BANDS},
        **{f"brick_psfsize_{b}": rows[f"brick_psfsize_{b}"] for b in BANDS},
        "brick_psfdepth_mag5_r": rows["brick_psfdepth_mag5_r"],
        "ebv": rows["brick_ebv"],
        "psf_bin": pa.array(psf_bin[galaxy]),
        "depth_bin": pa.array(depth_bin[galaxy]),
        "config_id": configuration.config_id,
        "theta_e_arcsec": pa.array(configuration.theta_e),
        "src_dmag": pa.array(configuration.src_dmag),
        "src_reff_arcsec": pa.array(configuration.src_reff),
        "src_e": pa.array(configuration.src_e),
        "shear": pa.array(configuration.shear),
        "stamp_size": constant(config.stamp_size, pa.int32()),
        "bandset": constant(config.bandset, pa.string()),
        "replicate": pa.array(replicate, pa.int32()),
        "is_control": pa.array(control),
        "task_seed64": pa.array(seeds),
        "src_x_arcsec": pa.array(drawn.src_x),
        "src_y_arcsec": pa.array(drawn.src_y),
        "src_phi_rad": pa.array(drawn.src_phi),
        "shear_phi_rad": pa.array(drawn.shear_phi),
        "src_gr": pa.array(drawn.gr),
        "src_rz": pa.array(drawn.rz),
        "lens_model": pa.DictionaryArray.from_arrays(
            pa.array(control.astype(np.int32)), pa.array(["SIE+SHEAR", "CONTROL"])
        ),
        "lens_e": pa.array(drawn.lens_e),
        "lens_phi_rad": pa.array(drawn.lens_phi),
        "ab_zp_nmgy": constant(AB_ZEROPOINT, pa.float64()),
        "pipeline_version": constant(PIPELINE_VERSION, pa.string()),
        # new: what the engine reads directly
        "lens_q": pa.array(drawn.lens_q),
        "lens_e1": pa.array(drawn.lens_e1),
        "lens_e2": pa.array(drawn.lens_e2),
        "gamma1": pa.array(configuration.shear * np.cos(2 * drawn.shear_phi)),
        "gamma2": pa.array(configuration.shear * np.sin(2 * drawn.shear_phi)),
        "src_q": pa.array(np.where(control, 1.0, (1 - configuration.src_e) / (1 + configuration.src_e))),
        "src_kind": constant(config.source_kind, pa.string()),
        "src_n": constant(config.src_n, pa.float64()),
        "template_index": pa.array(np.where(control, -1, drawn.template), pa.int32()),
        "n_templates": constant(config.n_templates if config.source_kind == "template" else 0, pa.int32()),
        "brightness_mode": constant(config.brightness_mode, pa.string()),
        "src_rmag": pa.array(
            _numpy(rows, "rmag") + configuration.src_dmag, mask=control | (config.brightness_mode != "dmag")
        ),  # null: not dmag
        "target_arc_snr": pa.array(np.where(control, 0.0, drawn.snr)),
        "target_snr_definition": constant(config.snr_definition, pa.string()),
        "arc_reach_arcsec": constant(config.arc_reach_arcsec, pa.float64()),
    }
    return pa.table(columns)


def _check_parent_rows(galaxies: pa.Table, split: str) -> None:
    """The parent-sample rows hold every input column and only the partition's split."""
    if split not in SPLITS:
        raise ConfigError("split", split, f"one of {SPLITS}")
    missing = [c for c in INPUT_COLUMNS if c not in galaxies.column_names]
    if missing:
        raise MissingColumnError("parent sample", missing)
    wrong = pc.sum(pc.not_equal(galaxies["split"], split)).as_py() if galaxies.num_rows else 0
    if wrong:
        raise ConfigError(
            "parent sample split", f"{wrong} row(s) not in {split}", "only the partition's split"
        )


def _choose_galaxies(
    galaxies: pa.Table, psf_edges: np.ndarray, depth_edges: np.ndarray, config: ManifestConfig
) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """The stratified choice of ``config.n_galaxies`` galaxies, in (brickname, objid) order so that the output
    does not depend on the input's order, with their PSF and depth stratum bins."""
    psf_bin = stratum_bins(_numpy(galaxies, "brick_psfsize_r"), psf_edges)
    depth_bin = stratum_bins(_numpy(galaxies, "brick_psfdepth_mag5_r"), depth_edges)
    chosen = stratified_sample(
        _numpy(galaxies, "row_id", np.int64), psf_bin, depth_bin, config.n_galaxies, config.seed
    )
    chosen = chosen[
        pc.sort_indices(
            galaxies.select(["brickname", "objid"]).take(chosen),
            sort_keys=[("brickname", "ascending"), ("objid", "ascending")],
        ).to_numpy()
    ]
    return galaxies.take(chosen), psf_bin[chosen], depth_bin[chosen]


@dataclass(frozen=True)
class _Configurations:
    """Per task row: whether it is a control, its ``config_id`` (dictionary-encoded; ``CONTROL`` for controls) and
    the grid's values (theta_E, src_reff arcsec; src_dmag mag; src_e, shear), zero for controls."""

    control: np.ndarray
    config_id: pa.DictionaryArray
    theta_e: np.ndarray
    src_dmag: np.ndarray
    src_reff: np.ndarray
    src_e: np.ndarray
    shear: np.ndarray


def _configurations(cfg: np.ndarray, grid: InjectionGrid) -> _Configurations:
    """The grid's configuration of each task row (``cfg`` its index, -1: control)."""
    configs = grid.configs()
    control = cfg < 0
    safe = np.where(control, 0, cfg)
    # dictionary-encoded labels: one copy of each string, cheap to hash and to write
    config_id = pa.DictionaryArray.from_arrays(
        pa.array(np.where(control, 0, cfg + 1).astype(np.int32)),
        pa.concat_arrays([pa.array([CONTROL_CONFIG_ID]), configs["config_id"].combine_chunks()]),
    )
    values = (
        np.where(control, 0.0, configs[axis].to_numpy()[safe])
        for axis in ("theta_e", "src_dmag", "src_reff", "src_e", "shear")
    )
    return _Configurations(control, config_id, *values)


@dataclass(frozen=True)
class _Draws:
    """Each task's frozen random numbers (``draws``): source offset (arcsec) and angle (rad), shear angle (rad),
    source colours (mag), lens shape (``lens_e, lens_phi`` and ``lens_q, lens_e1, lens_e2``; zero lens for
    controls), S/N target (0 outside ``snr`` mode) and template index (-1 for Sérsic sources)."""

    src_x: np.ndarray
    src_y: np.ndarray
    src_phi: np.ndarray
    shear_phi: np.ndarray
    gr: np.ndarray
    rz: np.ndarray
    lens_e: np.ndarray
    lens_phi: np.ndarray
    lens_q: np.ndarray
    lens_e1: np.ndarray
    lens_e2: np.ndarray
    snr: np.ndarray
    template: np.ndarray


def _frozen_draws(
    seeds: np.ndarray,
    rows: pa.Table,
    configuration: _Configurations,
    split: str,
    config: ManifestConfig,
    template_owners: np.ndarray | None,
) -> _Draws:
    control = configuration.control
    src_x, src_y = draws.source_offsets(seeds, configuration.theta_e, config.beta_max_factor)
    src_phi = 2 * np.pi * draws.uniform(seeds, "src_pa")
    shear_phi = np.pi * draws.uniform(seeds, "shear_phi")
    gr, rz = draws.colours(seeds, config.colour_model)
    lens_e, lens_phi = draws.lens_shapes(
        seeds, config.lens_shape, _numpy(rows, "shape_e1"), _numpy(rows, "shape_e2")
    )
    lens_e, lens_phi = np.where(control, 0.0, lens_e), np.where(control, 0.0, lens_phi)
    lens_q = (1 - lens_e) / (1 + lens_e)
    lens_e1, lens_e2 = q_phi_to_ellipticity(lens_q, lens_phi)
    snr = (
        draws.snr_targets(seeds, config.snr_bins, ~control)
        if config.brightness_mode == "snr"
        else np.zeros(len(seeds))
    )
    owners = (
        draws.template_splits(config.n_templates, config.seed) if template_owners is None else template_owners
    )
    template = (
        draws.template_indices(seeds, split, owners)
        if config.source_kind == "template"
        else np.full(len(seeds), -1)
    )
    return _Draws(
        src_x, src_y, src_phi, shear_phi, gr, rz, lens_e, lens_phi, lens_q, lens_e1, lens_e2, snr, template
    )


def _task_ids(selection_set_id, split, row_id, config_id, replicate) -> pa.Array:
    """``{set}/{split}/{row_id}/{config_id}/{replicate}``: unique within a manifest by construction, and
    readable; with ``experiment_id`` (a column) it is unique across experiments."""
    n = len(row_id)
    parts = [pa.repeat(pa.scalar(value), n) for value in (selection_set_id, split)]
    parts += [
        pc.cast(pa.array(row_id), pa.string()),
        config_id.cast(pa.string()),
        pc.cast(pa.array(replicate), pa.string()),
    ]
    return pc.binary_join_element_wise(*parts, "/")


def split_manifests(
    con: duckdb.DuckDBPyConnection,
    parent: str,
    split: str,
    selection_sets: dict[str, str],
    psf_edges: np.ndarray,
    depth_edges: np.ndarray,
    config: ManifestConfig,
    template_owners: np.ndarray | None = None,
):
    """The manifests of several selection sets of one split, from one pass over the parent sample.

    ``parent``: a DuckDB relation (e.g. ``read_parquet(...)``) of the split's parent sample;
    ``selection_sets``: selection-set partition key -> selection_set_id. A first scan reads only what
    the sampling needs (row_id, brick PSF size r, depth r, set membership); the galaxies chosen for any
    set are then read in full in a second scan. Yields ``(partition key, manifest, counts)`` one set at a
    time, ``counts`` holding the galaxies of the set and those left out for want of coverage: their brick has no PSF
    size in a band of the bandset, or no r depth (every stamp on such a brick would fail, controls and injections alike).
    """
    keys = list(selection_sets)
    if not 0 < len(keys) <= 62:
        raise ConfigError("selection sets per pass", len(keys), "1 to 62")
    # one bit per set; NaN tests stay in numpy (DuckDB folds isnan() to false from Parquet statistics
    # that leave NaN out, as pyarrow writes them)
    membership = " | ".join(
        f"(list_contains(selection_sets, $set_{i})::BIGINT << {i})" for i in range(len(keys))
    )
    params = {f"set_{i}": selection_sets[k] for i, k in enumerate(keys)}
    # no filter on split here (it would decode a string column of every row): build_manifest rejects
    # any chosen galaxy of another split
    bands = [b for b in config.bandset if b != "r"]
    others = "".join(f", brick_psfsize_{b} AS psf_{b}" for b in bands)
    light = con.sql(
        f"SELECT row_id, brick_psfsize_r AS psf, brick_psfdepth_mag5_r AS depth{others}, {membership} AS sets FROM {parent}",
        params=params,
    ).to_arrow_table()
    row_id = _numpy(light, "row_id", np.int64)
    psf, depth = _numpy(light, "psf"), _numpy(light, "depth")  # nulls come as NaN
    usable = (
        np.isfinite(psf)
        & np.isfinite(depth)
        & np.logical_and.reduce([np.isfinite(_numpy(light, f"psf_{b}")) for b in bands])
    )
    psf_bin, depth_bin = stratum_bins(psf, psf_edges), stratum_bins(depth, depth_edges)
    sets = _numpy(light, "sets", np.int64)
    del light, psf, depth
    chosen, counts = {}, {}
    for i, key in enumerate(keys):
        member = (sets >> i) & 1 == 1
        rows = np.flatnonzero(member & usable)
        chosen[key] = row_id[
            rows[
                stratified_sample(
                    row_id[rows], psf_bin[rows], depth_bin[rows], config.n_galaxies, config.seed
                )
            ]
        ]
        counts[key] = {
            "galaxies_in_set": int(member.sum()),
            "galaxies_without_coverage": int((member & ~usable).sum()),
        }
    del row_id, psf_bin, depth_bin, sets
    con.register(
        "chosen_rows",
        pa.table({"row_id": np.unique(np.concatenate([np.zeros(0, np.int64), *chosen.values()]))}),
    )
    galaxies = con.sql(
        f"SELECT {', '.join(INPUT_COLUMNS)} FROM {parent} SEMI JOIN chosen_rows USING (row_id)"
    ).to_arrow_table()
    con.unregister("chosen_rows")
    fetched = _numpy(galaxies, "row_id", np.int64)
    order = np.argsort(fetched, kind="stable")
    for key in keys:
        subset = galaxies.take(order[np.searchsorted(fetched[order], chosen[key])])
        # sampling the chosen galaxies again chooses them all: build_manifest sees exactly the set's choice
        yield (
            key,
            build_manifest(
                subset, selection_sets[key], key, split, psf_edges, depth_edges, config, template_owners
            ),
            counts[key],
        )
