"""Slack as a notifier: the Web API client, message blocks and settings."""
