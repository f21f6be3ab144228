"""The web portal: server-rendered pages (Jinja2 templates, static files served by the app).

Sign-in and a signed-in placeholder for now; the portal's pages join them here.
"""
