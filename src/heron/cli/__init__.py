"""The `heron` command line."""
