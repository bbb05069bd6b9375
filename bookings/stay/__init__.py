"""The guest's stay page: private links, the doors and the "Open the door" action, the page's
texts, views, and the manager's stay services (create, change dates, resend)."""
