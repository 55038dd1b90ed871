"""Development tools: the Temporal dev server build and sample data. Never imported by the product."""
