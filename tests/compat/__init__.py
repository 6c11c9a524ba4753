"""Compatibility suite: the official Azure SDK (azure-mgmt-compute) driving a real `scaleset serve`."""
