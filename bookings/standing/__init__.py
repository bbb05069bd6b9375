"""Standing access (cleaners, owners): recurring codes on a property's doors, reserved for good
so no guest draws them; services and the API."""
