"""HTML and htmx pages, one module per sub-domain."""
