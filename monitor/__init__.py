"""chokepoint-monitor: watches maritime chokepoints from AIS feeds and raises alerts."""

__version__ = "0.1.0"
