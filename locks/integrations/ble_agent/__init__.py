"""On-site agents reaching locks over Bluetooth: enrollment, jobs, the agent API."""
