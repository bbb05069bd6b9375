"""PMS connections: each organization's webhook endpoints for Hostaway, Guesty, Smoobu,
Lodgify, Hospitable and our generic JSON, and the events they deliver."""
