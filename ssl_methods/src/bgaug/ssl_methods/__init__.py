"""bgaug.ssl_methods (being written)."""
