"""Built-in notification plugins: the dispatcher (``notifications``) and the destination
types ``email_notifier``, ``slack_notifier`` and ``webhook_notifier``."""
