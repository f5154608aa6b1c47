"""One module per method; ``bgaug.ssl_methods.build_method`` assembles them."""
