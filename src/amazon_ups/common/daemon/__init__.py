"""The daemon runtime shared by both companies: channels, links, the loop, isolation."""
