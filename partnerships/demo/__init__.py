"""`make demo`: a dev server, a worker and one partnership driven through every phase."""
