"""Where DR10 files live under a survey root: the one place that knows the DR10 directory layout.

A survey root is a local folder (a portal's files are read from a local cache of them, ``dhs_core.survey.portal``)
laid out as DR10 South is::

    <root>/survey-bricks*.fits.gz                       bricks tables (geometry, per-brick summary)
    <root>/sweep/<version>/sweep-*.fits                 sweep catalogues (5 x 5 deg tiles)
    <root>/coadd/<AAA>/<brick>/legacysurvey-<brick>-<product>[-<band>].fits.fz
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

from dhs_core.errors import ConfigError

DR10_SWEEP_VERSION = "10.1"
REMOTE_SCHEMES = ("http://", "https://", "s3://")


def survey_path(root: str, relative: str) -> str:
    """Join a survey root and a relative DR10 path; the same rule for local folders and URLs."""
    root = str(root)
    if root.startswith(REMOTE_SCHEMES):
        return root.rstrip("/") + "/" + relative.lstrip("/")
    return os.path.join(root, *relative.split("/"))


def require_local(path: str) -> str:
    """Refuse a remote path where local files are read, naming it."""
    if str(path).startswith(REMOTE_SCHEMES):
        raise ConfigError(
            "survey_root",
            path,
            "a local folder; a portal is read through a local cache (an http(s):// "
            "DHS_SURVEY_ROOT with DHS_SURVEY_CACHE, docs/real_data.md)",
        )
    return str(path)


@dataclass(frozen=True)
class SurveyLayout:
    """The DR10 layout under one survey root (``root`` is a folder or, later, a URL)."""

    root: str
    sweep_version: str = DR10_SWEEP_VERSION

    def path(self, relative: str) -> str:
        return survey_path(self.root, relative)

    @property
    def sweep_dir(self) -> str:
        return self.path(f"sweep/{self.sweep_version}")

    def sweep_path(self, name: str) -> str:
        return self.path(f"sweep/{self.sweep_version}/{name}")

    def coadd_dir(self, brickname: str) -> str:
        return self.path(f"coadd/{brickname[:3]}/{brickname}")

    def coadd_path(self, brickname: str, product: str, band: str | None = None) -> str:
        """``coadd/<AAA>/<brick>/legacysurvey-<brick>-<product>[-<band>].fits.fz``."""
        suffix = f"-{band}" if band else ""
        return self.path(
            f"coadd/{brickname[:3]}/{brickname}/legacysurvey-{brickname}-{product}{suffix}.fits.fz"
        )

    def bricks_table_paths(self) -> list[str]:
        """Every ``survey-bricks*.fits[.gz]`` at the root, sorted (local roots only for now)."""
        root = require_local(self.root)
        root = glob.escape(root)  # a root's own name is literal, even with glob characters in it
        return sorted(
            glob.glob(os.path.join(root, "survey-bricks*.fits"))
            + glob.glob(os.path.join(root, "survey-bricks*.fits.gz"))
        )

    def sweep_paths(self) -> list[str]:
        """Every sweep file of this version, sorted by name (local roots only for now)."""
        folder = require_local(self.sweep_dir)
        folder = glob.escape(folder)
        return sorted(
            glob.glob(os.path.join(folder, "sweep-*.fits"))
            + glob.glob(os.path.join(folder, "sweep-*.fits.gz"))
        )
