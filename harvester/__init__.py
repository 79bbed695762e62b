"""patsnap-harvester: harvest PatSnap image-search results into a data lake."""

__version__ = "0.1.0"
