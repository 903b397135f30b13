"""payment-service: the only process that talks to a payment provider.

It consumes charge and refund requests from the durable dramatiq queue ``payments``,
calls the provider (``PAYMENT_PROVIDER``; the built-in ``mock``) with each
request's idempotency key, and answers on ``payment_outcomes``. Start it with
``dramatiq payment_service.broker --queues payments`` (see the README).
"""
