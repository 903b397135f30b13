"""notifier: live booking events over WebSocket and Server-Sent Events."""
