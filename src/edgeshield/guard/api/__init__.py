"""The FastAPI application of the guard: factory, dependencies and routes."""
