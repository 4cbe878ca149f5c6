"""Phase 4c: injected stamps from manifest rows — cutouts of the real coadds, the engine, the output table."""
