"""Zhiku's entry points: the command line and the composition root."""
