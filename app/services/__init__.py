"""Business operations, one module per aggregate.  They flush, never commit:
the request handler or the job commits (or rolls back) the whole unit of work."""
