"""Cross-cutting web concerns: request hooks, error pages, HTMX helpers."""
