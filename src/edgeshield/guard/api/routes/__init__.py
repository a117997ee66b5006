"""Routes of the guard API, one module per concern."""
