"""Reading what a city has: incidents, open-data formats, OSM, and simulated cities."""
