"""bgaug.evals (being written)."""
