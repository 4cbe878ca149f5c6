"""Survey inputs and the catalogue phases."""
