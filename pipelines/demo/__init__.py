"""The embedded demo: OpenMoji images and names, a loopback image server, toy shards."""
