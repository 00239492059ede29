"""Models that rank places: the validated forecast, its scores and validation, and risk terrain."""
