"""mail-worker: the dramatiq actor that sends booking emails with RFC 5545 invitations.

Start it with ``dramatiq mail_worker.broker --queues mail`` (see the README);
``python -m mail_worker.sink`` is the development SMTP sink.
"""
