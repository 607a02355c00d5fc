"""Delivery: workers that lease queued events and send them to destinations."""
