"""reminder-worker: dramatiq actors that claim due reminders and publish them.

Start it with ``dramatiq reminder_worker.broker`` (see the README).
"""
