"""Phase 4a: the injection manifest — grids, stratified sampling, controls, replicates, frozen draws."""
