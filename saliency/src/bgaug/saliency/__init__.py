"""bgaug.saliency (being written)."""
