"""The analysis core: study area, grid, counts, density, hot spots, stage contract, pipeline."""
