"""Evaluation: retrieval metrics now; generation metrics, judges and reports later."""
