"""What the store and the carrier share: settings, durable messaging, the daemon runtime."""
