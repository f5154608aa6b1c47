"""bgaug.launch (being written)."""
