"""Shared domain code: settings, errors, principals and access tokens, the metadata database."""
