"""Thin HTTP edges: parse the request, call the pipeline, map errors to statuses."""
