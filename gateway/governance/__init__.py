"""Governance rules over events: scrubbing, sensitive pages, bots, the tracking plan,
network minimization. Pure functions and compiled rule sets; ``gateway.pipeline.govern``
applies them."""
