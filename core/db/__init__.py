"""The metadata database: models, sessions, migrations, and every SQL query (one module per entity).

Functions take the session first; the caller owns the transaction.
"""
