"""Time: the space-time cube, emerging hot spots, change, profiles and demand."""
