"""Application services: what Zhiku does, with no web framework in it.

Each service is given only what it uses (sessions, a blob store, the retriever…) by the
composition root (``zhiku.container``); the API's routes and the command line call them.
Resource schemas (the public shape of documents, search hits, answers) are in ``schemas/``.
"""
