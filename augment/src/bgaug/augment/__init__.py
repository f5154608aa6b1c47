"""bgaug.augment (being written)."""
