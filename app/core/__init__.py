"""What every domain uses: the audit log, the runtime settings ops may change, paging, the app's
public URLs, the request id carried into jobs, and queueing work after the commit.
"""
