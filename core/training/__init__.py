"""A training job's internals: the data plan and split, checks, search, and what a run records."""
