"""The market: sellers' withdrawal requests in one FIFO queue, buyers' purchases matched against it,
and the invoices between them, created through each seller's own payment-provider API form.

One module per aggregate or rule; services flush, never commit (the request handler or the job
commits the unit of work).  Matching has two entry points over one set of queue rules
(:mod:`~app.market.matching`): ``matching.match`` takes one purchase and is what the buy form's
offer and every unusual case use; ``matching_batch.match_waiting`` is what the match job runs,
reserving for up to 32 waiting purchases in one transaction and handing any it cannot place
cleanly back to the single path.
"""
