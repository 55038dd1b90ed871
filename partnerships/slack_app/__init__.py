"""The Slack app: turns clicks on gate reviews into decisions (`python -m partnerships.slack_app`)."""
