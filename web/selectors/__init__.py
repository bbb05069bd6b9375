"""Reads for the manager pages, one module per area (today, properties, locks, stays,
integrations, settings, emails). Every function issues a fixed number of queries whatever the
data size (lists are bounded and their related rows fetched in one query each), so a page costs
the same for an operator with five flats as for one with five thousand."""
