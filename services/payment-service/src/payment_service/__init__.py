"""payment-service: charges and refunds through a payment provider, over dramatiq."""
