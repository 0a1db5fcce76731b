"""The carrier: a Django project (web site) plus its dispatch daemon."""
