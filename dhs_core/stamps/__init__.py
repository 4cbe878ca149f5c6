"""Phase 4c: injected stamps from manifest rows — cutouts of the real coadds, the engine, the output table — and
their hand-off to training code: ``read_stamps`` (small reads, into memory) and ``iter_batches`` (streamed)."""

from dhs_core.stamps.iterate import iter_batches
from dhs_core.stamps.read import read_stamps

__all__ = ["iter_batches", "read_stamps"]
