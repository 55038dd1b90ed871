"""Crawl-walk-run partnership lifecycle engine."""
