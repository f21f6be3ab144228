"""The vector-store contract: one mixin family per module (Haystack's pattern).

A backend's test class inherits the mixins and provides one fixture, ``store``: a fresh, empty
store on which ``ensure_collection`` has not run yet. Expected results never come from a store:
they are computed in plain Python with :func:`index.filters.matches` and
:meth:`core.access.Principal.can_read` over the same data (``common``).
"""
