"""Properties: where stays happen, in which timezone, with which default times."""
