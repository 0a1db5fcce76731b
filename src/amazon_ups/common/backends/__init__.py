"""Database backends: Django's own, with what our deployments need changed."""
