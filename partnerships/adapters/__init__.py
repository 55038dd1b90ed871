"""Adapters: the store, templates, configuration, the Temporal client and the notifiers."""
