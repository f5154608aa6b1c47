"""The robustness suites, one module each; every suite returns a JSON-ready dict of results."""
