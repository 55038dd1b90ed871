"""The framework's mechanics on Temporal: contracts, ports, visibility, refusals. Imports only the domain."""
