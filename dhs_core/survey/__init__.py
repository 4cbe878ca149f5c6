"""Survey inputs: the DR10 path layout, the bricks table, sweep and coadd readers, and the mock sky."""
