"""The web layer: one blueprint package per area (``app/web/<area>/``: ``blueprint.py`` holds its
``bp``, ``routes`` or ``*_routes`` modules its views, ``forms.py`` its forms; templates in
``app/templates/<area>/``), and the helpers every view uses (access guard, error pages, request
hooks, htmx, labels, charts).  Views parse, authorise, call one service, commit and render.
"""
