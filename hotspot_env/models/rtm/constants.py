"""Settings of the risk terrain model: distances tested, error rate, table columns, names."""

from __future__ import annotations

#: Block length (m) used when there is no street layer to measure it from.
DEFAULT_BLOCK_LENGTH_M: float = 100.0

#: Distances tested, in block lengths (RTMDx: 1, 2 and 3 blocks).
BLOCK_MULTIPLES: tuple[float, ...] = (1.0, 2.0, 3.0)

#: Operationalisations tested.
OPERATIONS: tuple[str, ...] = ("proximity", "density")

#: Family-wise error rate of the Holm test applied after selection.
FWER: float = 0.05

#: Share of cells (percent) in the headline "top N %".
TOP_PERCENT: float = 10.0

#: User layers with these names describe the street network, not a risk factor.
STREET_LAYER_NAMES: frozenset[str] = frozenset({"streets", "roads", "street_network"})

#: Columns of :attr:`RTMResult.table`, in order.
TABLE_COLUMNS: tuple[str, ...] = ("factor", "operation", "distance_m", "coefficient", "rrv",
                                  "ci_low", "ci_high", "p_value")

#: Factors whose *layer* (not their ``features``) holds the risky places: the
#: lighting factor's features are working lamps, its layer the dark segments.
USE_LAYER: frozenset[str] = frozenset({"lighting"})

#: Plain-language names of known factors in explanations.
DISPLAY_NAMES: dict[str, str] = {"lighting": "dark street segments", "vacancy": "vacant land",
                                 "sightlines": "sightline obstacles", "youth": "youth spaces",
                                 "access": "youth and community spaces",
                                 "poor_lighting": "places a walk audit rated poorly lit",
                                 "poor_openness": "places a walk audit rated closed in",
                                 "poor_visibility": "places a walk audit rated hard to see into",
                                 "poor_people": "places a walk audit rated deserted",
                                 "poor_security": "places a walk audit rated unguarded",
                                 "poor_walk_path": "places a walk audit rated poor to walk",
                                 "poor_transport": "places a walk audit rated far from transport",
                                 "poor_feeling": "places a walk audit rated unsafe"}

