"""The store: a Django project (web site) plus its fulfilment daemon."""
