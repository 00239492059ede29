"""National scale: an analysis cut into tiles with halos and run on dask.distributed.

:mod:`~hotspot_env.scale.tiles` cuts the grid (:func:`~hotspot_env.scale.tiles.make_tiles`),
:mod:`~hotspot_env.scale.engine` runs the analysis on a dask cluster
(:func:`~hotspot_env.scale.engine.analyze_tiled`), and
:mod:`~hotspot_env.scale.global_stats` keeps the statistics that are global by
method global (Gi*'s moments, the FDR cut-offs). dask is the optional
``[scale]`` extra; importing this package does not import it.
"""
