"""The portal's words, one module per page; ``api.web.i18n`` merges them (a key may be
defined once only)."""
