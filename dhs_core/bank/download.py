"""Real-galaxy catalogues fetched when they are not on disk: GalSim's COSMOS samples (or any archive in the
``galsim.RealGalaxyCatalog`` layout) through ``dhs_core.fetch``, unpacked once into a cache folder.

By default the archive is where GalSim's own ``galsim_download_cosmos`` gets it (Zenodo record 3242143): the 23.5
sample (about 4 GB unpacked) and the 25.2 sample (about 6 GB).
"""

from __future__ import annotations

import os
import shutil
import tarfile
import uuid

from dhs_core.errors import ConfigError, InputFileError
from dhs_core.fetch import fetch

COSMOS_URL = "https://zenodo.org/record/3242143/files/COSMOS_{sample}_training_sample.tar.gz"
COSMOS_SAMPLES = ("23.5", "25.2")
UNPACKED_MARKER = ".unpacked"


def cosmos_url(sample: str = "23.5") -> str:
    """Where GalSim's downloader gets the COSMOS ``sample`` (``23.5`` or ``25.2``)."""
    if sample not in COSMOS_SAMPLES:
        raise ConfigError("COSMOS sample", sample, f"one of {COSMOS_SAMPLES}")
    return COSMOS_URL.format(sample=sample)


def resolve_catalog_files(files: list[str], url: str, cache: str, **fetch_options) -> list[str]:
    """The catalogue files to build a bank from: each one that exists as given is kept; when any is missing, the
    archive at ``url`` (a ``.tar.gz``) is fetched into ``cache`` and unpacked there once, and every file is looked up
    by its name inside it. An archive without a named file is an error naming both."""
    if all(os.path.exists(f) for f in files):
        return list(files)
    if not url:
        missing = [f for f in files if not os.path.exists(f)]
        raise InputFileError(
            ", ".join(missing), "real-galaxy catalogue not found and no archive URL to fetch it from"
        )
    folder = fetch_archive(url, cache, **fetch_options)
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            found.setdefault(name, os.path.join(root, name))
    resolved = []
    for path in files:
        if os.path.exists(path):
            resolved.append(path)
        elif os.path.basename(path) in found:
            resolved.append(found[os.path.basename(path)])
        else:
            raise InputFileError(path, f"not on disk and not in the archive {url} (unpacked at {folder})")
    return resolved


def fetch_archive(url: str, cache: str, **fetch_options) -> str:
    """Fetch a ``.tar.gz`` at ``url`` into ``cache`` (resumable, verified) and unpack it once into
    ``cache/<name without .tar.gz>``; return that folder. Members that would land outside it are refused."""
    base, _, name = url.rpartition("/")
    if not name.endswith((".tar.gz", ".tgz")):
        raise ConfigError("catalogue archive URL", url, "a .tar.gz or .tgz file")
    folder = os.path.join(cache, name.removesuffix(".tar.gz").removesuffix(".tgz"))
    if os.path.exists(os.path.join(folder, UNPACKED_MARKER)):
        return folder
    (row,) = fetch(base, [name], cache, **fetch_options).to_pylist()
    if row["status"] != "ok":
        raise InputFileError(url, f"cannot fetch the catalogue archive: {row['status']} ({row['error']})")
    staging = os.path.join(cache, f".{os.path.basename(folder)}.{uuid.uuid4().hex}")
    try:
        with tarfile.open(os.path.join(cache, name), "r:gz") as archive:
            archive.extractall(staging, filter="data")  # no absolute paths, no links out, no devices
        if os.path.exists(folder):
            shutil.rmtree(folder)
        os.replace(staging, folder)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputFileError(
            os.path.join(cache, name), f"cannot unpack the catalogue archive ({type(exc).__name__}: {exc})"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    with open(os.path.join(folder, UNPACKED_MARKER), "w") as marker:
        marker.write(url + "\n")
    return folder
