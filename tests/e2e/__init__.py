"""The product as people and operators meet it: the CLI as a subprocess, a real browser, crashes and outages."""
